"""Model names, hub/local resolution, safe weight loading and saving in the hub layout.

Weights are only ever read with safetensors or ``torch.load(weights_only=True)``, and no code
from a checkpoint directory is imported or run (no ``trust_remote_code``): a downloaded
checkpoint is data.
"""

from __future__ import annotations

import difflib
import json
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from glm_tune.errors import GLMTuneError
from glm_tune.model import GLMConfig, GLMModel

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_FILE = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS_INDEX, SAFETENSORS_FILE, BIN_INDEX, BIN_FILE)
# Files a hub download fetches: config, weights and tokenizer files, never Python code.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.vocab"]


class CheckpointError(GLMTuneError):
    """A checkpoint that cannot be resolved or loaded; the message names the file."""


@dataclass(frozen=True)
class ModelSpec:
    """A released GLM that users can name."""

    name: str
    hub_id: str
    tokenizer: str
    """Tokenizer kind: ``chinese-sp``, ``bert``, ``gpt2``, ``roberta`` or ``sentencepiece``."""
    config: GLMConfig
    aliases: tuple[str, ...] = ()
    notes: str = ""
    bundled: str | None = None
    """Directory under ``glm_tune/models`` when the weights ship inside the package (offline)."""


def _config(layers: int, hidden: int, heads: int, max_seq: int, vocab: int) -> GLMConfig:
    return GLMConfig(
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        max_sequence_length=max_seq,
        vocab_size=vocab,
    )


# Shapes from GLM-NOTES part 1 section 2.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("glm-large-chinese", "THUDM/glm-large-chinese", "chinese-sp",
              _config(24, 1024, 16, 1024, 50048), aliases=("glm-large-ch",)),
    ModelSpec("glm-10b-chinese", "THUDM/glm-10b-chinese", "chinese-sp",
              _config(48, 4096, 64, 1024, 50048), aliases=("glm-10b-ch",),
              notes="never generate id 50009 (its row is a copy of <|endofpiece|>)"),
    ModelSpec("glm-large", "THUDM/glm-large", "bert",
              _config(24, 1024, 16, 512, 30592), aliases=("glm-large-en",),
              notes="no [sMASK]/[gMASK]"),
    ModelSpec("glm-roberta-large", "THUDM/glm-roberta-large", "roberta",
              _config(24, 1024, 16, 512, 50304), notes="no [sMASK]/[gMASK]"),
    ModelSpec("glm-tiny", "(bundled)", "sentencepiece", _config(4, 256, 4, 512, 16128),
              aliases=("glm-tiny-en", "glm-tiny-zh"), bundled="glm-tiny",
              notes="ships with glm-tune (15 MB, offline); English + Chinese; see its MODEL_CARD.md"),
    ModelSpec("glm-2b", "THUDM/glm-2b", "gpt2", _config(36, 2048, 32, 1024, 50304)),
    ModelSpec("glm-10b", "THUDM/glm-10b", "gpt2", _config(48, 4096, 64, 1024, 50304)),
)


def find_spec(name: str) -> ModelSpec | None:
    key = name.lower()
    for spec in MODELS:
        if key in (spec.name, spec.hub_id.lower(), *spec.aliases):
            return spec
    return None


def known_names() -> list[str]:
    return [n for spec in MODELS for n in (spec.name, *spec.aliases)]


def resolve(name_or_path: str | os.PathLike[str], cache_dir: str | None = None) -> Path:
    """Return a local directory holding the checkpoint.

    A local directory is used as is. A known name (``glm-large-ch``) or a hub id
    (``owner/name``) is fetched with huggingface_hub into its usual cache; offline, a cached copy
    is used and a missing one gives an error that says how to provide the files instead.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is a file; pass the directory that holds {CONFIG_FILE} and the weights")
    text = str(name_or_path)
    spec = find_spec(text)
    if spec is None and not _looks_like_hub_id(text):
        close = difflib.get_close_matches(text.lower(), known_names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise CheckpointError(
            f"unknown model {text!r}: not a directory and not a known name.{hint} "
            f"Known names: {', '.join(known_names())} (run `glm-tune models`), or a hub id owner/name."
        )
    if spec is not None and spec.bundled:
        return Path(__file__).parent / "models" / spec.bundled
    repo_id = spec.hub_id if spec else text
    return _download(repo_id, cache_dir)


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~"))


def _download(repo_id: str, cache_dir: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, cache_dir=cache_dir))
    except Exception as error:  # huggingface_hub raises many types for "no network / no repo"
        try:
            return Path(
                snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, cache_dir=cache_dir, local_files_only=True)
            )
        except Exception:
            pass
        reason = (str(error).strip().splitlines() or [""])[0]
        raise CheckpointError(
            f"could not download {repo_id!r} from the Hugging Face hub ({type(error).__name__}: {reason}). "
            f"If this machine is offline, download the repository elsewhere and pass its directory "
            f"(it needs {CONFIG_FILE}, the weights as {SAFETENSORS_FILE} or {BIN_FILE}, and the tokenizer files)."
        ) from None


# ----------------------------------------------------------------------------- reading
def load_config(directory: Path) -> GLMConfig:
    file = directory / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}; a GLM checkpoint directory needs one")
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
        return GLMConfig.from_dict(values)
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise CheckpointError(f"{file}: not a valid GLM config ({error})") from None


def _weight_files(directory: Path) -> list[Path]:
    for name in WEIGHT_FILES:
        file = directory / name
        if not file.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                index = json.loads(file.read_text(encoding="utf-8"))
                shards = sorted(set(index["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, AttributeError) as error:
                raise CheckpointError(f"{file}: not a valid shard index ({error})") from None
            missing = [s for s in shards if not (directory / s).is_file()]
            if missing:
                raise CheckpointError(f"{file} lists shards that are missing: {', '.join(missing)}")
            return [directory / s for s in shards]
        return [file]
    raise CheckpointError(f"{directory} has no weights: expected one of {', '.join(WEIGHT_FILES)}")


def load_tensors(file: Path) -> Any:
    """``torch.load`` of tensors and plain data only; a file that holds anything else is refused.

    torch's own refusal suggests ``weights_only=False``, which would run the file's code: it
    is never passed on.
    """
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            raise CheckpointError(
                f"{file}: refused: besides tensors it holds pickled Python objects, which could run code when "
                "loaded; glm-tune reads only tensors and plain data (save the weights as safetensors)"
            ) from None
        raise CheckpointError(f"{file}: cannot read weights, the file is corrupt or truncated ({error})") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{file}: cannot read weights, the file is corrupt or truncated ({error})") from None


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        state = load_tensors(file)
    except CheckpointError:
        raise
    except Exception as error:  # safetensors raises its own error type
        raise CheckpointError(f"{file}: cannot read weights ({type(error).__name__}: {error})") from None
    # FlagAI and Megatron wrap the state dict: {"module": {...}} or {"model": {...}}.
    while isinstance(state, dict) and len(state) == 1 and next(iter(state)) in ("module", "model", "state_dict"):
        state = next(iter(state.values()))
    if not isinstance(state, dict):
        raise CheckpointError(f"{file}: expected a state dict, found {type(state).__name__}")
    return state


def normalize_keys(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Strip the ``glm.`` / ``model.`` / ``module.`` prefixes; return backbone keys and the rest.

    The hub heads prefix every key with ``glm.``, THUDM's converter saves them bare and FlagAI
    adds ``model.`` and/or ``module.``; a classification head's own keys are set aside.
    """
    backbone: dict[str, torch.Tensor] = {}
    others: list[str] = []
    for key, value in state.items():
        bare = key
        while True:
            for prefix in ("glm.", "model.", "module."):
                if bare.startswith(prefix):
                    bare = bare[len(prefix):]
                    break
            else:
                break
        if bare.startswith(("word_embeddings.", "transformer.")):
            backbone[bare] = value
        else:
            others.append(key)
    return backbone, others


def load_model(
    name_or_path: str | os.PathLike[str],
    dtype: torch.dtype | None = None,
    cache_dir: str | None = None,
    **overrides: Any,
) -> GLMModel:
    """Build a :class:`GLMModel` from a directory, a known name or a hub id.

    ``overrides`` replace config fields (``activation="gelu_tanh"`` to match the original
    training code, dropout probabilities, ``checkpoint_activations``).
    """
    directory = resolve(name_or_path, cache_dir)
    config = load_config(directory)
    if overrides:
        values = config.to_dict()
        values.update(overrides)
        config = GLMConfig.from_dict(values)
    state: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for file in _weight_files(directory):
        backbone, others = normalize_keys(_read_weights(file))
        state.update(backbone)
        ignored.extend(others)
    with torch.device("meta"):
        model = GLMModel(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CheckpointError(f"{directory}: weights are missing {shown}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{directory}: {key} has shape {tuple(state[key].shape)} in the weights but "
                f"{tuple(tensor.shape)} by {CONFIG_FILE}; the config does not belong to these weights"
            )
    if ignored:
        warnings.warn(
            f"{directory}: ignored {len(ignored)} weights outside the GLM backbone "
            f"(e.g. {ignored[0]}); task heads are not loaded",
            stacklevel=2,
        )
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise CheckpointError(f"{directory}: weights have keys the config does not explain: {', '.join(unexpected[:5])}")
    model.load_state_dict(state, assign=True)
    model = model.to(dtype) if dtype is not None else model.float() if _all_half(state) else model
    return model.eval()


def _all_half(state: dict[str, torch.Tensor]) -> bool:
    # Released fp16 checkpoints load as fp32 unless a dtype is asked for, so the reference
    # tolerances hold by default.
    return all(t.dtype in (torch.float16, torch.bfloat16) for t in state.values())


# ----------------------------------------------------------------------------- writing
def save_model(model: GLMModel, directory: str | os.PathLike[str]) -> None:
    """Write ``config.json`` and ``model.safetensors`` with the hub port's key names (``glm.``)."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {f"glm.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    values = model.config.to_dict()
    values["torch_dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
    # Write to temporary names and rename, so an interrupted save never leaves a directory
    # that looks complete but holds a truncated file.
    tmp_weights = out / (SAFETENSORS_FILE + ".tmp")
    save_file(state, str(tmp_weights), metadata={"format": "pt"})
    tmp_config = out / (CONFIG_FILE + ".tmp")
    tmp_config.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp_weights, out / SAFETENSORS_FILE)
    os.replace(tmp_config, out / CONFIG_FILE)
    stale = out / BIN_FILE
    if stale.exists():
        stale.unlink()
