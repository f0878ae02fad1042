import pytest

from fauxshop.atomic import atomic_dir, atomic_open, atomic_path, atomic_write_bytes, recover_dir


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("good")
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_written_files_get_the_mode_a_plain_open_gives(tmp_path):
    atomic_write_bytes(tmp_path / "f.bin", b"x")
    (tmp_path / "plain.bin").write_bytes(b"x")
    mode = (tmp_path / "f.bin").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.bin").stat().st_mode & 0o777
    assert mode != 0o600  # not mkstemp's private mode


def test_temp_name_can_keep_the_extension_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "walk.mp4", keep_suffix=True, fsync=False) as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path
        tmp.write_bytes(b"video")
    assert (tmp_path / "walk.mp4").read_bytes() == b"video"
    assert [p.name for p in tmp_path.iterdir()] == ["walk.mp4"]


def test_a_folder_is_swapped_in_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights").write_text("half of v2")
        raise RuntimeError("crash mid-save")
    assert (target / "weights").read_text() == "v1"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v2")
    assert (target / "weights").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_crash_between_the_two_renames_is_recovered(tmp_path):
    old = tmp_path / "model.old"  # what a crash after "rename aside" leaves
    old.mkdir()
    (old / "weights").write_text("v1")
    assert (recover_dir(tmp_path / "model") / "weights").read_text() == "v1"
    assert not old.exists()
