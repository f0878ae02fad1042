"""Read NVIDIA network pickles without running any code they carry.

NVIDIA's StyleGAN2-ADA / StyleGAN3 snapshots are plain pickles whose networks rebuild themselves
through `torch_utils.persistence._reconstruct_persistent_obj`, which `exec`s the Python source
stored in the pickle. Loading one with `pickle.load` therefore runs arbitrary code. Here the
unpickler resolves only an allow-list of globals: torch's tensor rebuilders, plain containers,
numpy arrays, and NVIDIA's reconstructor, which is replaced by `ModuleRecord`: the class name,
constructor arguments and tensors of the network, with its source kept as an unread string.
Anything else is refused before it is called.
"""

from __future__ import annotations

import collections
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray

from fauxshop.errors import FauxshopError


class ModuleRecord:
    """What a pickled network module holds, as data: no class is imported, no code runs."""

    def __init__(self, class_name: str, state: dict, module_src: str | None = None) -> None:
        self.class_name = class_name
        self.module_src = module_src  # opaque: kept for provenance, never executed
        self.state = state

    @property
    def init_kwargs(self) -> dict:
        return _plain(self.state.get("_init_kwargs") or {})

    def tensors(self) -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers under dotted names, as `state_dict()` names them."""
        skip = self.state.get("_non_persistent_buffers_set") or set()
        out: dict[str, torch.Tensor] = {}
        for name, t in (self.state.get("_parameters") or {}).items():
            if t is not None:
                out[name] = t.detach()
        for name, t in (self.state.get("_buffers") or {}).items():
            if t is not None and name not in skip:
                out[name] = t.detach()
        for child_name, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, ModuleRecord):
                out.update({f"{child_name}.{k}": v for k, v in child.tensors().items()})
        return out


class _TorchModuleStub(ModuleRecord):
    """Stands in for a plain `torch.nn` module inside a network: pickle sets its state."""

    def __setstate__(self, state: dict) -> None:
        ModuleRecord.__init__(self, type(self).__name__, state)


class _EasyDict(dict):
    """NVIDIA's `dnnlib.util.EasyDict` (a dict with attribute access), read as a plain dict."""


def _persistent_record(meta: dict) -> ModuleRecord:
    """Replaces NVIDIA's `_reconstruct_persistent_obj`: keep the record, never exec its source."""
    if meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError(f"unknown persistent object type {meta.get('type')!r}")
    return ModuleRecord(str(meta["class_name"]), meta["state"], meta.get("module_src"))


def _storage_from_bytes(data: bytes) -> Any:
    """Tensor storages arrive as torch.save bytes: read them with torch's weights-only loader."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _plain(value: Any) -> Any:
    """EasyDicts and nested kwargs as plain dicts and lists, so they serialise as JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_NUMPY = {"_reconstruct": _multiarray._reconstruct, "scalar": _multiarray.scalar}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch", "Size"): torch.Size,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{
        (mod, name): fn
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name, fn in _NUMPY.items()
    },
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; any other one is refused by name, uncalled."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module.startswith("torch.nn.modules.") and name.isidentifier():
            return type(name, (_TorchModuleStub,), {})
        if module.startswith("dnnlib.tflib"):
            raise FauxshopError(
                f"{self.path}: a TensorFlow StyleGAN pickle; convert it with NVIDIA's legacy.py"
                " (stylegan2-ada-pytorch) first"
            )
        raise FauxshopError(
            f"{self.path}: refused to load: the pickle asks for {module}.{name}, which is not"
            " a tensor, a network record or plain data"
        )


def load_reason(e: Exception) -> str:
    """The line of a loader's error that says what is wrong, without torch's advice paragraphs
    (which suggest `weights_only=False`, i.e. running the file's code: never do that)."""
    text = str(e).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if "weights_only" not in line and "file an issue" not in line]
    return (useful or [type(e).__name__])[0]


def torch_load(path: str | Path, safe: list | tuple = ()) -> Any:
    """`torch.load` of tensors and plain data only (plus the `safe` classes), never code; a file
    it refuses or cannot read is a one-line FauxshopError."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(list(safe)), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pickle protocol notes
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for foreign, unsafe or truncated files
        raise FauxshopError(
            f"{path}: not loadable as tensors and plain data: {load_reason(e)}"
        ) from e


def load_network_pickle(path: str | Path) -> Any:
    """Unpickle an NVIDIA snapshot safely: networks come back as `ModuleRecord`s."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return RestrictedUnpickler(f, path).load()
    except FauxshopError:
        raise
    except OSError as e:
        raise FauxshopError(f"{path}: cannot read: {e.strerror or e}") from e
    except Exception as e:  # a truncated or foreign file fails in many different ways
        raise FauxshopError(f"{path}: not a readable network pickle: {e}") from e
