"""The workspace: one folder holding the store and everything later stages write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKDIR = Path("fauxshop-work")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "catalog.db"

    @property
    def images_dir(self) -> Path:
        """Images the workspace owns (e.g. decoded from Fashion-MNIST's idx files)."""
        return self.root / "images"

    @property
    def archives_dir(self) -> Path:
        return self.root / "archives"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def downloads_dir(self) -> Path:
        """Images ingest fetched by URL, cached by the URL's hash (a rerun fetches none twice)."""
        return self.root / "downloads"

    def newest_archive(self, pattern: str = "*.zip") -> Path | None:
        """The most recently written file in archives/ matching `pattern` (None: none)."""
        found = sorted(self.archives_dir.glob(pattern), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    @classmethod
    def open(cls, root: str | Path = DEFAULT_WORKDIR) -> Workspace:
        ws = cls(Path(root))
        ws.root.mkdir(parents=True, exist_ok=True)
        return ws
