"""Do ADA's geometric augmentations leak into the generator? bilinear vs upsampled resampling.

Trains two small generators on the same archive for the same CPU-minutes of their own, with
ADA held at p = 0.8 (`--augment fixed --aug-p 0.8`, spec `bg`: only the geometric transforms,
the ones whose resampling differs), one per `--augment-resample` mode. Then, for each:

- leak: a small CNN trained on real images to tell upright from mirrored, quarter-turned and
  shifted copies (exact pixel moves, no resampling to give itself away) labels generated
  images; the share it calls transformed is compared with the share it calls transformed
  among held-out *real* images (its false alarms, and Fashion-MNIST's mirror-symmetric
  garments, which no classifier can call either way);
- pose, with no classifier and no resampling: each image's tilt (its main axis against the
  image axes) and how far its centre sits from the middle, from the moments of its pixels;
  the shares beyond the 95th percentiles of real images (about 0.05 on held-out reals) grow
  when rotations or translations leak, at any angle;
- FID of `--fid-num` images against the archive (`fauxshop metrics`, bf16 Inception: fine for
  comparing the two, ~1 % below an fp32 number).

    nice -n 5 .venv/bin/python bench/bench_aug_leak.py --data /work/fm/archives/fmnist-32.zip \\
        --out /work/fm/aug-leak --workdir /work/fm --minutes 12

Trained from scratch with p at 0.8 from the first step, small generators collapse to one
shape, and one shape is a sample of one, not a rate. `--init-from SNAPSHOT` asks the question
of a generator that already draws every class: both paths continue the same checkpoint (G, D
and G_ema; its architecture and labels), and a leak shows as garments that turn or shift.

Runs that already hold a snapshot are not retrained; results go to OUT/leak.json, OUT/table.md
and OUT/samples.png (held-out real images, then each generator's seeds 0-15, a row each: look
at it, the classifier only knows quarter-turns).
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _runs import run_metrics, train_once

MODES = ("bilinear", "upsampled")
NET = "--z-dim 128 --w-dim 128 --mapping-layers 2 --channel-base 2048 --channel-max 128"
LABELS = ("upright", "mirrored", "rot90", "rot180", "rot270", "shifted")


def _flags(mode: str, init_from: str) -> list[str]:
    """ADA's geometric transforms only, held at p = 0.8, resampled the `mode` way; the
    networks are NET's, or the checkpoint's with `init_from`."""
    net = ["--init-from", init_from] if init_from else NET.split()
    return ["--augment", "fixed", "--aug-p", "0.8", "--augment-spec", "bg", "--amp", "bf16",
            "--augment-resample", mode, "--batch", "32", *net]  # fmt: skip


def _generated(G, num: int):
    """`num` images at psi 1, N x H x W x C uint8; a conditional G's cycle through its labels."""
    import numpy as np

    from fauxshop.latent.generate import generate

    if not G.c_dim:
        return generate(G, range(num), 1.0)
    blocks = [generate(G, range(c, num, G.c_dim), 1.0, c) for c in range(G.c_dim)]
    images = np.empty((num, *blocks[0].shape[1:]), np.uint8)
    for c, block in enumerate(blocks):  # seed s gets label s mod c_dim
        images[c :: G.c_dim] = block
    return images


def _transform(x, label: int, gen):
    """One of LABELS applied to N x C x H x W images by exact pixel moves."""
    import torch
    import torch.nn.functional as F

    if label == 1:
        return x.flip(3)
    if label in (2, 3, 4):
        return x.rot90(label - 1, (2, 3))
    if label == 5:  # 2-4 pixels along a random direction, reflected at the border as ADA does
        h, w = x.shape[2:]
        dy, dx = (
            torch.randint(2, 5, [2], generator=gen)
            * (torch.randint(0, 2, [2], generator=gen) * 2 - 1)
        ).tolist()
        big = F.pad(x, [4, 4, 4, 4], mode="reflect")
        return big[:, :, 4 - dy : 4 - dy + h, 4 - dx : 4 - dx + w]
    return x


def _classifier(channels: int):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, len(LABELS)),
    )  # fmt: skip


def _real_images(data: str, n: int):
    import torch

    from fauxshop.image.dataset import ImageArchive
    from fauxshop.pixels import from_uint8

    archive = ImageArchive(data)
    order = torch.randperm(archive.num_images, generator=torch.Generator().manual_seed(0))[:n]
    return from_uint8(torch.stack([archive.image(int(i)) for i in order]))


def _train_classifier(real, steps: int):
    """The transform classifier, and its accuracy on held-out real images of each label."""
    import torch
    import torch.nn.functional as F

    train, held = real[:-2000], real[-2000:]
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    net = _classifier(real.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(0, len(train), [96], generator=gen)
        labels = torch.randint(0, len(LABELS), [96], generator=gen)
        x = torch.cat(
            [
                _transform(train[i : i + 1], int(lab), gen)
                for i, lab in zip(idx, labels, strict=True)
            ]
        )
        loss = F.cross_entropy(net(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = {
            name: float((net(_transform(held, k, gen)).argmax(1) == k).float().mean())
            for k, name in enumerate(LABELS)
        }
    return net, held, accuracy


def _pose(images):
    """Each image's tilt (degrees between its main axis and the nearer image axis, 0-45) and
    its centre's distance from the image centre (pixels), from the moments of what differs
    from its border's median. No classifier, no resampling: a rotation leak widens the tilts,
    a translation leak the offsets, at any angle or distance."""
    import torch

    x = images.float().mean(1)
    h, w = x.shape[1:]
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], 1).median(1).values
    ink = (x - border[:, None, None]).abs()
    ink = ink / ink.sum((1, 2), keepdim=True).clamp_min(1e-8)
    yy, xx = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    cy, cx = (ink * yy).sum((1, 2)), (ink * xx).sum((1, 2))
    dy, dx = yy - cy[:, None, None], xx - cx[:, None, None]
    mu20, mu02, mu11 = ((ink * dx * dx).sum((1, 2)), (ink * dy * dy).sum((1, 2)),
                        (ink * dx * dy).sum((1, 2)))  # fmt: skip
    axis = torch.rad2deg(0.5 * torch.atan2(2 * mu11, mu20 - mu02)).abs() % 90
    tilt = torch.minimum(axis, 90 - axis)
    offset = torch.hypot(cy - (h - 1) / 2, cx - (w - 1) / 2)
    return tilt, offset


def _pose_shares(images, limits) -> dict[str, float]:
    """Shares tilted and off-centre beyond `limits` (the 95th percentiles of real images)."""
    tilt, offset = _pose(images)
    return {
        "tilted": float((tilt > limits[0]).float().mean()),
        "off_centre": float((offset > limits[1]).float().mean()),
    }


def _shares(net, images) -> dict[str, float]:
    import torch

    with torch.no_grad():
        pred = torch.cat([net(chunk).argmax(1) for chunk in images.split(500)])
    return {name: float((pred == k).float().mean()) for k, name in enumerate(LABELS)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workdir", required=True, help="workspace (its metric-cache is reused)")
    ap.add_argument("--minutes", type=float, default=12, help="CPU-minutes per generator")
    ap.add_argument("--num", type=int, default=2000, help="generated images for the leak share")
    ap.add_argument("--fid-num", type=int, default=10000)
    ap.add_argument("--max-real", type=int, default=10000)
    ap.add_argument("--classifier-steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-from", default="", help="continue this checkpoint on both paths")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    def train_mode(mode: str) -> None:
        flags = _flags(mode, args.init_from)
        train_once(args.data, args.out / mode, flags, args.minutes, args.seed)

    with ThreadPoolExecutor(len(MODES)) as pool:  # one thread each: two processes share 2 cores
        list(pool.map(train_mode, MODES))

    import numpy as np
    import torch

    from fauxshop.image.checkpoint import latest_snapshot, load_generator, read_snapshot
    from fauxshop.markdown import markdown_table
    from fauxshop.pixels import from_uint8, save_grid, to_hwc_uint8
    from fauxshop.runtime import configure_torch

    configure_torch(torch.device("cpu"))  # flushed denormals: young Gs render 20x faster
    torch.set_num_threads(2)
    real = _real_images(args.data, 12000)
    net, held, accuracy = _train_classifier(real, args.classifier_steps)
    tilt, offset = _pose(real[:-2000])  # the classifier's training images set the limits
    limits = (float(tilt.quantile(0.95)), float(offset.quantile(0.95)))

    def judged(images) -> dict[str, float]:
        return {**_shares(net, images), **_pose_shares(images, limits)}

    rows = [{"images": "real (held out)", **judged(held)}]
    samples = [to_hwc_uint8(held[:16])]
    start = [("start", Path(args.init_from))] if args.init_from else []
    for name, run in start + [(mode, args.out / mode) for mode in MODES]:
        G = load_generator(run)
        fake = _generated(G, args.num)
        samples.append(fake[:16])
        fake = from_uint8(torch.from_numpy(fake).permute(0, 3, 1, 2))
        row = {"images": f"G, {name}", **judged(fake)}
        if name != "start":  # the continued runs' own kimg and minutes
            meta = read_snapshot(latest_snapshot(run)).meta
            row.update(kimg=meta["kimg"], cpu_min=meta["own_cpu_s"] / 60)
        fid = ["--metrics", "fid", "--num", str(args.fid_num), "--max-real", str(args.max_real)]
        row["fid"] = float(run_metrics(run, args.workdir, fid)["fid"])
        rows.append(row)
    for row in rows:  # mirrored is left out: a symmetric garment looks mirrored half the time
        row["turned_or_shifted"] = sum(row[name] for name in LABELS[2:])
    result = {
        "classifier_accuracy": accuracy, "pose_limits": limits, "rows": rows,
        "fid_num": args.fid_num,
    }  # fmt: skip
    save_grid(np.concatenate(samples), args.out / "samples.png", cols=16)
    (args.out / "leak.json").write_text(json.dumps(result, indent=1))
    table = markdown_table([{k: _fmt(v) for k, v in row.items()} for row in rows])
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    print("classifier accuracy on held-out reals:", json.dumps(accuracy))
    print(
        f"tilted: main axis over {limits[0]:.1f} deg off the image axes; off-centre: centre "
        f"over {limits[1]:.2f} px from the middle (95th percentiles of real images)"
    )


def _fmt(value):
    return f"{value:.3f}" if isinstance(value, float) else value


if __name__ == "__main__":
    main()
