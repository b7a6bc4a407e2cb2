"""Model names, hub/local resolution, reading every released checkpoint layout safely, writing the hub layout.

This module deals in files, state dicts and config dicts only; :meth:`glm_tune.model.GLMModel.from_pretrained`
builds the model from what :func:`read_checkpoint` returns (so ``model`` imports this module, never the reverse).

Weights are only ever read with safetensors or ``torch.load(weights_only=True)`` with an allowlist of the
plain data types that training checkpoints carry besides the weights (numpy arrays of rng states), and no
code from a checkpoint directory is imported or run (no ``trust_remote_code``): a downloaded checkpoint is data.
"""

from __future__ import annotations

import difflib
import json
import os
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from glm_tune.atomic import atomic_path, write_text_atomic
from glm_tune.errors import GLMTuneError

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
    config: dict[str, Any]
    """The shape fields of ``config.json`` (a :class:`~glm_tune.model.GLMConfig` reads it)."""
    aliases: tuple[str, ...] = ()
    notes: str = ""
    bundled: str | None = None
    """Directory under ``glm_tune/models`` when the weights ship inside the package (offline)."""


def _config(layers: int, hidden: int, heads: int, max_seq: int, vocab: int) -> dict[str, Any]:
    return {
        "num_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "max_sequence_length": max_seq,
        "vocab_size": vocab,
    }


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
    """Return the local directory (or weight file) holding the checkpoint.

    A local directory or file is used as is. A known name (``glm-large-ch``) or a hub id
    (``owner/name``) is fetched with huggingface_hub into its usual cache; offline, a cached copy
    is used and a missing one gives an error that says how to provide the files instead.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
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
THUDM_TRACKER = "latest_checkpointed_iteration.txt"
FLAGAI_TRACKER = "latest_iteration.txt"
_THUDM_SHARD = re.compile(r"mp_rank_(\d+)_model_states\.pt")
_FLAGAI_SHARD = re.compile(r"pytorch_model_(\d+)\.bin")

ORIGINS = ("hub", "thudm", "flagai", "paddlenlp")
ORIGIN_ACTIVATION = {"hub": "gelu", "thudm": "gelu_tanh", "flagai": "gelu_tanh", "paddlenlp": "gelu_tanh"}
"""The GELU each origin's own code computes: the Hugging Face port uses exact erf, THUDM/GLM, FlagAI and
PaddleNLP the tanh approximation (the released weights were trained with it)."""


@dataclass
class Checkpoint:
    """A checkpoint read from any layout, before a model is built from it."""

    state: dict[str, torch.Tensor]
    """Backbone weights under bare keys (``word_embeddings.weight``, ``transformer.…``), model-parallel
    shards merged; 2-D weights still as stored (see :func:`fit_state`)."""
    config: dict[str, Any] | None
    """The ``config.json`` found beside the weights, or None (THUDM checkpoints carry none)."""
    origin: str
    """Whose layout: ``hub`` (Hugging Face port, ``glm.`` keys), ``thudm``, ``flagai`` or ``paddlenlp``."""
    source: Path
    ignored: list[str]
    """Keys outside the backbone (task heads), not loaded."""


def read_checkpoint(name_or_path: str | os.PathLike[str], cache_dir: str | None = None) -> Checkpoint:
    """Read the weights (and config, if any) of a checkpoint in any released layout.

    Accepted: a hub-layout directory (``config.json`` + ``model.safetensors``, sharded safetensors with an
    index, ``pytorch_model.bin``); a THUDM/GLM training directory (``latest_checkpointed_iteration.txt`` +
    ``<iter>/mp_rank_NN_model_states.pt``), one iteration directory or one ``mp_rank_00_model_states.pt``
    file; FlagAI's trainer directory (``latest_iteration.txt`` + ``<iter>/pytorch_model.bin`` or
    ``pytorch_model_NN.bin``) and hub dicts (``{"module": ...}``, ``model.`` keys); any single weight file.
    Model-parallel shards are merged as THUDM's ``change_mp.py`` splits them.
    """
    path = Path(name_or_path).expanduser()
    if not path.exists():
        path = resolve(name_or_path, cache_dir)
    top = path if path.is_dir() else path.parent
    # The config is read first, so a broken config.json is reported as such even without weights.
    config = _read_config(top / CONFIG_FILE) if (top / CONFIG_FILE).is_file() else None
    files, layout = _locate(path)
    if (files[0].parent / CONFIG_FILE).is_file() and files[0].parent != top:
        config = _read_config(files[0].parent / CONFIG_FILE)
    shards = [_read_file(file) for file in files]
    backbones = [_backbone(weights) for weights, _ in shards]
    if layout in ("thudm", "flagai") and len(files) > 1:
        state = merge_model_parallel([backbone for backbone, _ in backbones], files)
        ignored = backbones[0][1]
    else:
        state = {key: value for backbone, _ in backbones for key, value in backbone.items()}
        ignored = [key for _, others in backbones for key in others]
    prefixes = set().union(*(_prefixes(weights) for weights, _ in shards))
    wrappers = set().union(*(keys for _, keys in shards))
    origin = _origin(layout, prefixes, wrappers, config, state)
    return Checkpoint(state, config, origin, path, ignored)


def _locate(path: Path) -> tuple[list[Path], str]:
    """The weight files of a checkpoint and its layout (``hub``, ``thudm``, ``flagai`` or ``file``)."""
    if path.is_file():
        if _THUDM_SHARD.fullmatch(path.name):
            return _shards(path.parent, _THUDM_SHARD, path), "thudm"
        if _FLAGAI_SHARD.fullmatch(path.name):
            return _shards(path.parent, _FLAGAI_SHARD, path), "flagai"
        return [path], "file"
    for tracker, layout in ((THUDM_TRACKER, "thudm"), (FLAGAI_TRACKER, "flagai")):
        file = path / tracker
        if file.is_file():
            text = file.read_text(encoding="utf-8").split()
            # FlagAI writes "<iteration>\t<best iteration>"; THUDM an iteration or "release".
            tag = text[0] if text else ""
            if not (path / tag).is_dir():
                raise CheckpointError(f"{file} names iteration {tag!r}, but {path / tag} is not a directory")
            return _locate(path / tag)[0], layout
    for pattern, layout in ((_THUDM_SHARD, "thudm"), (_FLAGAI_SHARD, "flagai")):
        found = sorted(p for p in path.iterdir() if pattern.fullmatch(p.name))
        if found:
            return _shards(path, pattern, found[0]), layout
    if not (path / CONFIG_FILE).is_file() and not any((path / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(
            f"{path} has no {CONFIG_FILE} and no weights: expected a hub layout ({', '.join(WEIGHT_FILES)}), "
            f"a THUDM directory ({THUDM_TRACKER} or mp_rank_00_model_states.pt) or a FlagAI one ({FLAGAI_TRACKER})"
        )
    return _weight_files(path), "hub"


def _shards(directory: Path, pattern: re.Pattern[str], first: Path) -> list[Path]:
    """Every model-parallel shard beside ``first``, by rank; a gap in the ranks is an error."""
    found = {int(m.group(1)): p for p in directory.iterdir() if (m := pattern.fullmatch(p.name))}
    ranks = sorted(found)
    if ranks != list(range(len(ranks))):
        raise CheckpointError(
            f"{directory}: model-parallel shards {ranks} are not ranks 0..{len(ranks) - 1}; a shard is missing"
        )
    if len(ranks) > 1 and first != found[0]:
        warnings.warn(f"{first} is one of {len(ranks)} model-parallel shards; loading all of them", stacklevel=3)
    return [found[r] for r in ranks]


def _read_config(file: Path) -> dict[str, Any]:
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{file}: not a valid GLM config ({error})") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{file}: not a valid GLM config (expected a JSON object)")
    return values


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


def _rng_state_types() -> list[Any]:
    """The globals a pickled ``np.random.get_state()`` needs: arrays and dtypes, no callables that run code.

    ``_reconstruct`` only allocates an empty array (its contents come from ``__setstate__``); it is
    named under both numpy 1 and numpy 2 module paths, as files written by either refer to it.
    """
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    dtypes = [type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                         np.uint32, np.uint64, np.float16, np.float32, np.float64)]
    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray, np.dtype, *dtypes,
    ]


# torch's two wordings: "Unsupported global: GLOBAL io.open", and for a module it blocks outright
# (os, posix, subprocess, ...) "Trying to load unsupported GLOBAL posix.system whose module ...".
_UNSUPPORTED_GLOBAL = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)")


def load_tensors(file: Path) -> Any:
    """``torch.load(weights_only=True)`` of tensors and plain data, plus the rng-state numpy arrays of
    training checkpoints (admitted within this call only); anything else is refused."""
    with torch.serialization.safe_globals(_rng_state_types()):
        try:
            return torch.load(file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            # torch's own message goes on to suggest loading without the restriction; only the
            # reason is passed on.
            found = _UNSUPPORTED_GLOBAL.search(str(error))
            reason = re.search(r"WeightsUnpickler error: ([^\n]*)", str(error))
            if found:
                what = f"it refers to {found.group(1)}, which is not plain data"
            elif reason:
                what = reason.group(1).strip()
            else:
                raise _corrupt(file, error) from None
            raise CheckpointError(
                f"{file}: refused to read it: {what}. glm-tune reads tensors, numbers, strings, lists, dicts, "
                "tuples and numpy arrays only, and never runs code from a checkpoint; save the weights alone "
                "(model.state_dict()) with safetensors or torch.save where the file came from"
            ) from None
        except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as error:
            raise _corrupt(file, error) from None


def _corrupt(file: Path, error: Exception) -> CheckpointError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return CheckpointError(f"{file}: cannot read weights, the file is corrupt or truncated ({reason})")


def _read_file(file: Path) -> tuple[dict[str, Any], set[str]]:
    """The weights of one file and the wrapper keys around them (``module``, ``iteration_in_epoch``...)."""
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = load_tensors(file)
    except CheckpointError:
        raise
    except Exception as error:  # safetensors raises its own error type
        raise CheckpointError(f"{file}: cannot read weights ({type(error).__name__}: {error})") from None
    wrappers: set[str] = set()
    # THUDM/Megatron and FlagAI trainers save {"module": weights, "iteration": ..., rng states...};
    # FlagAI's hub files are {"module": weights}; others use "model" or "state_dict".
    while isinstance(state, dict):
        inner = next((k for k in ("module", "model", "state_dict") if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        wrappers |= set(state)
        state = state[inner]
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{file}: expected a state dict of weights, found {type(state).__name__}")
    return state, wrappers


_PREFIXES = ("glm.", "model.", "module.")


def _strip(key: str) -> tuple[str, list[str]]:
    found = []
    while True:
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                found.append(prefix)
                break
        else:
            return key, found


def _prefixes(state: dict[str, Any]) -> set[str]:
    return {p for key in state for p in _strip(key)[1]}


def _backbone(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Backbone weights under bare keys, and the other keys (a task head's), set aside.

    The hub heads prefix every key with ``glm.``, THUDM's converter saves them bare and FlagAI
    adds ``model.`` and/or ``module.``.
    """
    backbone: dict[str, torch.Tensor] = {}
    others: list[str] = []
    for key, value in state.items():
        bare = _strip(key)[0]
        if bare.startswith(("word_embeddings.", "transformer.")) and isinstance(value, torch.Tensor):
            backbone[bare] = value
        else:
            others.append(key)
    return backbone, others


def _origin(layout: str, prefixes: set[str], wrappers: set[str], config: dict[str, Any] | None,
            state: dict[str, torch.Tensor]) -> str:
    if config and ("paddlenlp_version" in config or config.get("origin") == "paddlenlp"):
        return "paddlenlp"
    if config and config.get("origin") in ORIGINS:
        return config["origin"]
    if layout in ("thudm", "flagai"):
        return layout
    if "model." in prefixes or "iteration_in_epoch" in wrappers or wrappers == {"module"}:
        return "flagai"
    if "iteration" in wrappers:
        return "thudm"
    if "glm." in prefixes:
        # PaddleNLP's port keeps the hub key names but stores Linear weights as [in, out].
        return "paddlenlp" if _looks_transposed(state) else "hub"
    # THUDM's own conversion saves the Megatron module's keys bare.
    return "thudm"


# ----------------------------------------------------------------------------- model parallel
def _mp_split_dim(key: str) -> int | None:
    """The dimension THUDM's model parallelism splits a weight on (None: replicated on every rank)."""
    if key == "word_embeddings.weight" or key.endswith(("mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias")):
        return 0
    if key.endswith(("attention.dense.weight", "mlp.dense_4h_to_h.weight")):
        return 1
    return None


def merge_model_parallel(shards: list[dict[str, torch.Tensor]], files: list[Path] | None = None) -> dict[str, torch.Tensor]:
    """Join model-parallel shards (rank order) into one state dict, as THUDM's ``change_mp.py`` would to MP 1.

    ``query_key_value`` rows of rank r are ``[q_r; k_r; v_r]`` (each rank holds its heads' slices of Q, K
    and V), so the merge regroups them into ``[q; k; v]``; word embeddings and ``dense_h_to_4h`` are split
    on dim 0, ``dense`` and ``dense_4h_to_h`` weights on dim 1; everything else is replicated.
    """
    names = [str(f) for f in files] if files else [f"shard {i}" for i in range(len(shards))]
    keys = set(shards[0])
    for name, shard in zip(names[1:], shards[1:]):
        if set(shard) != keys:
            raise CheckpointError(f"{name} holds other weights than {names[0]}; the shards do not belong together")
    merged: dict[str, torch.Tensor] = {}
    for key in shards[0]:
        parts = [s[key] for s in shards]
        if key.endswith(("attention.query_key_value.weight", "attention.query_key_value.bias")):
            thirds = [p.chunk(3, dim=0) for p in parts]
            merged[key] = torch.cat([t[i] for i in range(3) for t in thirds], dim=0)
        elif (dim := _mp_split_dim(key)) is not None:
            merged[key] = torch.cat(parts, dim=dim)
        else:
            if any(not torch.equal(parts[0], p) for p in parts[1:]):
                raise CheckpointError(f"{key} differs between model-parallel shards, but it is replicated in GLM")
            merged[key] = parts[0]
    return merged


# ----------------------------------------------------------------------------- config and shapes
def _shape_facts(state: dict[str, torch.Tensor]) -> dict[str, int]:
    layers = {int(k.split(".")[2]) for k in state if k.startswith("transformer.layers.")}
    try:
        vocab, hidden = state["word_embeddings.weight"].shape
        positions = state["transformer.position_embeddings.weight"].shape[0]
    except KeyError as error:
        raise CheckpointError(f"the weights have no {error.args[0]}; this is not a GLM checkpoint") from None
    return {"num_layers": len(layers), "hidden_size": int(hidden), "vocab_size": int(vocab),
            "max_sequence_length": int(positions) - 1}


def infer_config(state: dict[str, torch.Tensor], where: str = "the checkpoint") -> dict[str, Any]:
    """The config of a released GLM whose shapes these weights have (layers, hidden, vocab, positions)."""
    facts = _shape_facts(state)
    for spec in MODELS:
        if all(spec.config[k] == v for k, v in facts.items()):
            return dict(spec.config)
    shown = ", ".join(f"{k}={v}" for k, v in facts.items())
    raise CheckpointError(
        f"{where} has no {CONFIG_FILE} and its shapes ({shown}) are not those of a released GLM; "
        "pass the config (--model_config: a config.json, a known model name or the values)"
    )


def config_values(config: dict[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """A user-given config as a dict: the dict itself, a ``config.json`` path or a known model name."""
    if isinstance(config, dict):
        return dict(config)
    spec = find_spec(str(config))
    if spec is not None:
        return dict(spec.config)
    file = Path(config).expanduser()
    if file.is_dir():
        file = file / CONFIG_FILE
    if file.is_file():
        return _read_config(file)
    raise CheckpointError(
        f"model config {str(config)!r} is neither a config.json file nor a known model name "
        f"({', '.join(known_names())})"
    )


def checkpoint_config(checkpoint: Checkpoint, given: dict[str, Any] | str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The config to build the model with: ``given``, else the checkpoint's own, else inferred from shapes.

    The activation is the one the config records, else the one the checkpoint's origin computes
    (:data:`ORIGIN_ACTIVATION`); the origin is recorded too, so a converted or finetuned copy keeps both.
    """
    if given is not None:
        values = config_values(given)
    elif checkpoint.config is not None:
        values = dict(checkpoint.config)
    else:
        values = infer_config(checkpoint.state, str(checkpoint.source))
    values.setdefault("activation", ORIGIN_ACTIVATION[checkpoint.origin])
    values["origin"] = checkpoint.origin
    return values


_LINEAR = (".query_key_value.weight", ".attention.dense.weight", ".dense_h_to_4h.weight", ".dense_4h_to_h.weight")


def _looks_transposed(state: dict[str, torch.Tensor]) -> bool:
    hidden = state["word_embeddings.weight"].shape[1] if "word_embeddings.weight" in state else None
    qkv = [v for k, v in state.items() if k.endswith(".query_key_value.weight")]
    return bool(hidden and qkv and tuple(qkv[0].shape) == (hidden, 3 * hidden))


def fit_state(checkpoint: Checkpoint, expected: dict[str, tuple[int, ...]], config_name: str = CONFIG_FILE) -> dict[str, torch.Tensor]:
    """Check the weights against the model's shapes and return them ready for ``load_state_dict``.

    A checkpoint whose Linear weights are all ``[in, out]`` (PaddleNLP's layout) is transposed, with a
    warning; it is decided by the non-square weights, and the square ``dense`` ones follow them. A mix of
    both layouts is refused, so weights never load silently wrong.
    """
    state, where = dict(checkpoint.state), checkpoint.source
    missing = sorted(set(expected) - set(state))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CheckpointError(f"{where}: weights are missing {shown}")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise CheckpointError(f"{where}: weights have keys the config does not explain: {', '.join(unexpected[:5])}")
    linear = [k for k in expected if k.endswith(_LINEAR)]
    flipped = [k for k in linear if expected[k][0] != expected[k][1]
               and tuple(state[k].shape) == expected[k][::-1]]
    if flipped:
        upright = [k for k in linear if expected[k][0] != expected[k][1] and tuple(state[k].shape) == expected[k]]
        if upright:
            raise CheckpointError(
                f"{where}: {flipped[0]} is stored [in, out] but {upright[0]} [out, in]; a checkpoint must use "
                "one layout for all its Linear weights"
            )
        warnings.warn(
            f"{where}: Linear weights are stored [in, out] (PaddleNLP's layout); transposed all "
            f"{len(linear)} of them to PyTorch's [out, in]",
            stacklevel=3,
        )
        for key in linear:
            state[key] = state[key].t().contiguous()
    for key, shape in expected.items():
        if tuple(state[key].shape) != tuple(shape):
            raise CheckpointError(
                f"{where}: {key} has shape {tuple(state[key].shape)} in the weights but "
                f"{tuple(shape)} by {config_name}; the config does not belong to these weights"
            )
    if checkpoint.ignored:
        warnings.warn(
            f"{where}: ignored {len(checkpoint.ignored)} weights outside the GLM backbone "
            f"(e.g. {checkpoint.ignored[0]}); task heads are not loaded",
            stacklevel=3,
        )
    return state


# ----------------------------------------------------------------------------- writing
def write_hub(state: dict[str, torch.Tensor], config: dict[str, Any], directory: str | os.PathLike[str]) -> None:
    """Write ``config.json`` and ``model.safetensors`` with the hub port's key names (``glm.``)."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"glm.{k}": v.detach().contiguous().cpu() for k, v in state.items()}
    # Weights first, config last: an interrupted save never leaves a directory that looks
    # complete (a config) beside truncated or stale weights.
    with atomic_path(out / SAFETENSORS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    write_text_atomic(out / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
    stale = out / BIN_FILE
    if stale.exists():
        stale.unlink()
