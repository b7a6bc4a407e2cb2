"""LoRA adapters on a GLM through ``peft``: add, save, load, merge.

``peft`` injects its LoRA layers into the GLM in place (``inject_adapter_in_model``), so the
module, the scorers and generation see the same ``GLMModel``; only the adapters train (peft
freezes every other weight of the model; a P-tuning prompt encoder lives outside the model and
trains too). An adapter directory is what peft itself writes and reads:
``adapter_model.safetensors`` and ``adapter_config.json`` (whose ``base_model_name_or_path``
names the GLM it adapts), plus glm-tune's tokenizer files and ``glm_tune.json``.
:func:`merged_model` folds the updates into plain weights for the hub layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from glm_tune.checkpoint import CheckpointError
from glm_tune.model import GLMModel

DEFAULT_TARGETS = ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")
"""GLM's linear layers: attention's fused QKV and output projections, the MLP's two layers."""
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER = "default"


def add_lora(model: GLMModel, rank: int, alpha: float, dropout: float,
             targets: Sequence[str] = DEFAULT_TARGETS) -> GLMModel:
    """Inject LoRA layers of ``rank`` into ``targets`` (module names or name suffixes) in place."""
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise ValueError(f"--lora_rank must be at least 1, got {rank}")
    if not 0 <= dropout < 1:
        raise ValueError(f"--lora_dropout must be in [0, 1), got {dropout}")
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    unknown = [t for t in targets if t not in names]
    if unknown or not targets:
        raise ValueError(f"--lora_targets {list(targets)}: {unknown or 'none given'} name no linear layer of the "
                         f"GLM; its linear layers: {', '.join(sorted(names))}")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    return inject_adapter_in_model(config, model, adapter_name=ADAPTER)


def has_lora(model: torch.nn.Module) -> bool:
    from peft.tuners.lora import LoraLayer

    return any(isinstance(m, LoraLayer) for m in model.modules())


def save_adapter(model: GLMModel, directory: str | Path, base_model: str) -> None:
    """``adapter_model.safetensors`` + ``adapter_config.json`` in peft's own layout."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model, adapter_name=ADAPTER)
    # peft's key convention for a saved adapter: the PeftModel wrapper's prefix.
    state = {f"base_model.model.{k}": v.detach().cpu().contiguous() for k, v in state.items()}
    save_file(state, str(out / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config = model.peft_config[ADAPTER]
    config.base_model_name_or_path = base_model
    config.save_pretrained(str(out))


def is_adapter_dir(directory: str | Path) -> bool:
    return (Path(directory) / ADAPTER_CONFIG).is_file()


def read_adapter_config(directory: str | Path) -> dict:
    """The adapter's rank, alpha, dropout, targets and base model, from ``adapter_config.json``."""
    path = Path(directory) / ADAPTER_CONFIG
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not a readable adapter config ({error})") from None
    if values.get("peft_type") != "LORA":
        raise CheckpointError(f"{path}: a {values.get('peft_type')} adapter; glm-tune loads LoRA adapters")
    targets = values.get("target_modules") or list(DEFAULT_TARGETS)
    return {"rank": int(values["r"]), "alpha": float(values["lora_alpha"]),
            "dropout": float(values.get("lora_dropout", 0.0)),
            "targets": sorted(targets) if isinstance(targets, (list, set)) else [targets],
            "base_model": values.get("base_model_name_or_path")}


def load_adapter(model: GLMModel, directory: str | Path) -> None:
    """Load a saved adapter's weights into a model :func:`add_lora` prepared with its config."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(directory) / ADAPTER_WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{path} not found: {directory} has an adapter config but no adapter weights")
    state = {k.removeprefix("base_model.model."): v for k, v in load_file(str(path)).items()}
    result = set_peft_model_state_dict(model, state, adapter_name=ADAPTER)
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{path} does not fit the model: missing {missing[:3]}, "
                              f"unexpected {result.unexpected_keys[:3]}")


def merged_model(model: GLMModel) -> GLMModel:
    """A plain :class:`GLMModel` whose weights are ``W + B A * alpha / r`` (the model is unchanged)."""
    from peft.tuners.lora import LoraLayer

    state = {k.replace(".base_layer.", "."): v for k, v in model.state_dict().items() if ".lora_" not in k}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer):
                weight = state[f"{name}.weight"]
                state[f"{name}.weight"] = weight + module.get_delta_weight(ADAPTER).to(weight.dtype)
    with torch.device("meta"):
        merged = GLMModel(model.config)
    merged.load_state_dict(state, assign=True)
    return merged.eval()
