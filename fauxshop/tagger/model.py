"""The image tagger: a small CNN with one softmax head per taxonomy field, and its file format.

Conv blocks (two 3x3 conv + batch norm + ReLU, then 2x2 max pool) feed a global average pool;
that pooled vector is both the embedding `features` returns and the input of every linear
head, so a text branch can later be fused beside it at the embedding. Images are taken the
way the generator makes them (float N x 3 x H x W in [-1, 1]) at any size, and grey images
are replicated to three channels, so Fashion-MNIST and generated photos score alike.

A saved tagger is two files: `NAME.safetensors` (weights; loading runs no code) and
`NAME.json` (config, heads, input size, training report, fauxshop version and the sha256 of
the weights). Both are written atomically, weights first: the JSON is the commit marker.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

import fauxshop
from fauxshop.atomic import atomic_open, atomic_path
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import build_network
from fauxshop.tagger.config import TaggerConfig

FORMAT = "fauxshop-tagger/1"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class Tagger(nn.Module):
    """Implements `fauxshop.tagger.ImageScorer`: `heads`, `predict`, `features` (+ logits)."""

    def __init__(
        self,
        config: TaggerConfig,
        heads: dict[str, tuple[str, ...]],
        input_size: tuple[int, int],
    ) -> None:
        super().__init__()
        self.config = config
        self.heads = {name: tuple(classes) for name, classes in heads.items()}
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.report: dict = {}  # the training report, saved in the sidecar
        widths = config.channel_widths()
        self.blocks = nn.Sequential(
            *(_block(cin, cout) for cin, cout in zip((3, *widths), widths, strict=False))
        )
        self.dropout = nn.Dropout(config.dropout)
        self.classifiers = nn.ModuleDict(
            {name: nn.Linear(widths[-1], len(classes)) for name, classes in self.heads.items()}
        )

    @property
    def embedding_dim(self) -> int:
        return self.config.channel_widths()[-1]

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """N x {1,3} x H x W in [-1, 1] → N x 3 x working size (antialiased resize)."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"tagger: expected N x 1|3 x H x W images, got {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if tuple(images.shape[2:]) != self.input_size:
            images = F.interpolate(
                images, size=self.input_size, mode="bilinear", antialias=True, align_corners=False
            )
        return images

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """N x D pooled embedding, differentiable in `images`. Call `.eval()` first (as
        `load_tagger` does) so batch norm uses its running statistics: then an image's
        features do not depend on the rest of its batch."""
        return self.blocks(self.prepare(images)).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head."""
        embedding = self.dropout(self.features(images))
        return {name: head(embedding) for name, head in self.classifiers.items()}

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Softmax probabilities per head (gradients flow; wrap in no_grad to score only)."""
        return {name: logits.softmax(dim=1) for name, logits in self(images).items()}


# ----------------------------------------------------------------------------------------------
# Files


def sidecar_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_tagger(tagger: Tagger, path: str | Path) -> Path:
    """Write `path` (.safetensors) and its JSON sidecar (with `tagger.report`) atomically."""
    path = Path(path)
    tensors = {
        k: v.detach().to("cpu", copy=True).contiguous() for k, v in tagger.state_dict().items()
    }
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata={"format": FORMAT})
    digest = file_sha256(path)
    meta = {
        "format": FORMAT,
        "fauxshop_version": fauxshop.__version__,
        "config": dataclasses.asdict(tagger.config),
        "heads": {name: list(classes) for name, classes in tagger.heads.items()},
        "input_size": list(tagger.input_size),
        "weights": path.name,
        "weights_sha256": digest,
        "report": tagger.report,
    }
    sidecar = sidecar_path(path)
    with atomic_open(sidecar, encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    return sidecar


def _check_sidecar(sidecar: Path, meta: object) -> None:
    """The fields `Tagger` is built from have the types it expects; the input size is a
    plausible image (a huge one would exhaust memory at the first image scored)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FauxshopError(f"{sidecar}: not a fauxshop tagger sidecar (format {FORMAT!r})")
    size = meta.get("input_size")
    if not (isinstance(size, list) and len(size) == 2 and all(_side(n) for n in size)):
        raise FauxshopError(f"{sidecar}: input_size {size!r} is not [height, width] in pixels")
    heads = meta.get("heads")
    if not (isinstance(heads, dict) and all(_names(c) for c in heads.values())):
        raise FauxshopError(f"{sidecar}: heads is not {{field: [class, ...]}}")
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("report", {}), dict):
        raise FauxshopError(f"{sidecar}: config or report is not a JSON object")


def _side(n: object) -> bool:
    return isinstance(n, int) and 1 <= n <= 4096


def _names(classes: object) -> bool:
    return isinstance(classes, list) and all(isinstance(c, str) for c in classes)


def load_tagger(path: str | Path, device: str | torch.device = "cpu") -> Tagger:
    """The tagger saved at `path` (the .safetensors file or its .json), in eval mode.

    Its training report is on `tagger.report`.
    """
    path = Path(path)
    weights = path.with_suffix(".safetensors")
    sidecar = sidecar_path(path)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise FauxshopError(f"{sidecar}: no such tagger (missing its JSON sidecar)") from e
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{sidecar}: not a readable tagger sidecar ({e})") from e
    _check_sidecar(sidecar, meta)
    try:
        digest = file_sha256(weights)
    except OSError as e:
        raise FauxshopError(f"{weights}: cannot read tagger weights ({e})") from e
    if digest != meta.get("weights_sha256"):
        raise FauxshopError(f"{weights}: corrupt tagger weights (sha256 differs from {sidecar})")
    try:
        state = safetensors.torch.load_file(str(weights))
    except (OSError, safetensors.SafetensorError) as e:
        raise FauxshopError(f"{weights}: tagger weights do not load ({e})") from e

    def build() -> Tagger:
        return Tagger(TaggerConfig(**meta["config"]), meta["heads"], meta["input_size"])

    tagger = build_network(weights, build, state)
    tagger.report = meta.get("report", {})
    return tagger.to(device).eval()
