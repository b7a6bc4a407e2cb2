"""Loading released layouts safely, saving in the hub layout, and clear errors on bad input."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from glm_tune.checkpoint import CheckpointError, resolve
from glm_tune.model import GLMModel, load_model, save_model


@pytest.fixture(scope="module")
def probe_input():
    ids = torch.tensor([[50002, 2531, 17450, 3005, 50003, 4918, 50000, 50006, 11]])
    return ids


def logits(model, ids):
    with torch.no_grad():
        return model(ids, attention_mask=7).logits


def copy_config(golden_dir, target):
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(golden_dir / "config.json", target / "config.json")


def test_save_then_load_gives_identical_logits(model, probe_input, tmp_path):
    save_model(model, tmp_path / "saved")
    again = load_model(tmp_path / "saved")
    assert torch.equal(logits(again, probe_input), logits(model, probe_input))


def test_saved_layout_is_the_hub_ports(model, tmp_path):
    model.save_pretrained(str(tmp_path))
    keys = load_file(str(tmp_path / "model.safetensors")).keys()
    assert all(k.startswith("glm.") for k in keys)
    assert "glm.transformer.layers.1.attention.query_key_value.weight" in keys
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["GLMForConditionalGeneration"]
    assert config["num_layers"] == 2 and config["max_sequence_length"] == 128
    assert config["activation"] == "gelu"
    assert "auto_map" not in config  # nothing that would make a loader import code


@pytest.mark.parametrize("layout", ["bare", "flagai"])
def test_unprefixed_and_flagai_layouts(golden_dir, model, probe_input, tmp_path, layout):
    state = torch.load(golden_dir / "pytorch_model.bin", weights_only=True)
    bare = {k.removeprefix("glm."): v for k, v in state.items()}
    saved = bare if layout == "bare" else {"module": {f"model.{k}": v for k, v in bare.items()}}
    copy_config(golden_dir, tmp_path)
    torch.save(saved, tmp_path / "pytorch_model.bin")
    # Both are the original code's layouts, so they load with its tanh GELU.
    tanh = GLMModel.from_pretrained(str(golden_dir), activation="gelu_tanh")
    assert torch.equal(logits(load_model(tmp_path), probe_input), logits(tanh, probe_input))


def test_sharded_safetensors(model, probe_input, tmp_path):
    save_model(model, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    (tmp_path / "model.safetensors").unlink()
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[:10], "model-00002-of-00002.safetensors": keys[10:]}
    for name, part in shards.items():
        save_file({k: state[k] for k in part}, str(tmp_path / name))
    index = {"weight_map": {k: name for name, part in shards.items() for k in part}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert torch.equal(logits(load_model(tmp_path), probe_input), logits(model, probe_input))


def test_half_checkpoint_loads_as_fp32_unless_asked(model, tmp_path):
    save_model(GLMModel(model.config).half(), tmp_path)
    assert next(load_model(tmp_path).parameters()).dtype == torch.float32
    assert next(load_model(tmp_path, dtype=torch.bfloat16).parameters()).dtype == torch.bfloat16


def test_checkpoint_pickle_code_is_not_executed(golden_dir, tmp_path):
    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code from a checkpoint ran')",))

    copy_config(golden_dir, tmp_path)
    torch.save({"word_embeddings.weight": Payload()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        load_model(tmp_path)


def test_directory_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path)


def test_missing_weights(golden_dir, tmp_path):
    copy_config(golden_dir, tmp_path)
    with pytest.raises(CheckpointError, match="has no weights"):
        load_model(tmp_path)


def test_corrupt_weights(golden_dir, tmp_path):
    copy_config(golden_dir, tmp_path)
    data = (golden_dir / "pytorch_model.bin").read_bytes()
    (tmp_path / "pytorch_model.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="pytorch_model.bin.*corrupt"):
        load_model(tmp_path)


def test_corrupt_safetensors(golden_dir, tmp_path):
    copy_config(golden_dir, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(tmp_path)


def test_config_that_does_not_fit_the_weights(golden_dir, tmp_path):
    config = json.loads((golden_dir / "config.json").read_text())
    config["max_sequence_length"] = 256
    tmp_path.joinpath("config.json").write_text(json.dumps(config))
    shutil.copy(golden_dir / "pytorch_model.bin", tmp_path)
    with pytest.raises(CheckpointError, match=r"position_embeddings.weight has shape \(129, 32\)"):
        load_model(tmp_path)


def test_invalid_config_json(tmp_path):
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="config.json: not a valid GLM config"):
        load_model(tmp_path)


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(CheckpointError, match="Did you mean glm-large-ch"):
        resolve("glm-lage-ch")


def test_known_name_offline_says_what_to_provide(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="THUDM/glm-large-chinese.*offline"):
        resolve("glm-large-ch", cache_dir=str(tmp_path))


def test_models_command_lists_names_and_sizes(capsys):
    from glm_tune.cli import main

    main(["models"])
    out = capsys.readouterr().out
    assert "glm-large-chinese" in out and "glm-large-ch" in out and "THUDM/glm-10b" in out
    assert "356M" in out and "chinese-sp" in out
    assert "exact erf GELU" in out and "tanh GELU" in out


def test_checkpoint_module_never_imports_the_model():
    # model.py -> checkpoint.py is the only direction (counting imports inside functions):
    # checkpoint.py deals in files, state dicts and config dicts.
    import ast
    from pathlib import Path

    import glm_tune.checkpoint

    tree = ast.parse(Path(glm_tune.checkpoint.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    # The error family and the atomic writer are the project modules below everything else.
    assert not {name for name in imported if name.startswith("glm_tune")} - {"glm_tune.errors", "glm_tune.atomic"}
