"""Every released checkpoint layout, built from the golden weights, loads to the hub layout's logits.

THUDM/GLM and FlagAI checkpoints carry the Megatron module's keys, training state beside them and
(THUDM) no config; they were trained with tanh GELU, so they are compared with the golden hub
weights loaded with ``activation="gelu_tanh"``.
"""

from __future__ import annotations

import json
import os
import random
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from glm_tune.checkpoint import CheckpointError, load_tensors, merge_model_parallel, read_checkpoint
from glm_tune.model import GLMConfig, GLMModel, load_model

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def golden_state(golden_dir):
    state = torch.load(golden_dir / "pytorch_model.bin", weights_only=True)
    return {k.removeprefix("glm."): v for k, v in state.items()}


@pytest.fixture(scope="module")
def config_file(golden_dir):
    return golden_dir / "config.json"


@pytest.fixture(scope="module")
def tanh_reference(golden_dir):
    return GLMModel.from_pretrained(str(golden_dir), activation="gelu_tanh")


@pytest.fixture(scope="module")
def probe():
    return torch.tensor([[50002, 2531, 17450, 3005, 50003, 4918, 50000, 50006, 11, 731]])


def logits(model, ids):
    with torch.no_grad():
        return model(ids, attention_mask=7).logits


def assert_same_logits(model, reference, ids):
    difference = (logits(model, ids) - logits(reference, ids)).abs().max().item()
    assert difference <= TOLERANCE, difference


def training_dict(weights, **extra):
    """What THUDM's ``save_checkpoint`` writes: the module plus iteration, scheduler and rng states."""
    return {
        "iteration": 1000,
        "module": weights,
        "lr_scheduler": {"num_iters": 1000, "max_lr": 1e-4, "decay_style": "cosine"},
        "random_rng_state": random.getstate(),
        "np_rng_state": np.random.get_state(),
        "torch_rng_state": torch.get_rng_state(),
        "cuda_rng_state": torch.get_rng_state(),
        "rng_tracker_states": {"model-parallel-rng": torch.get_rng_state()},
        **extra,
    }


def split_model_parallel(state, ranks):
    """THUDM's ``change_mp.py`` split from MP 1 to ``ranks``, written as the inverse of the merge rules:
    ``query_key_value`` rank r gets ``[q_r; k_r; v_r]``; word embeddings and ``dense_h_to_4h`` split on
    dim 0; ``dense`` and ``dense_4h_to_h`` weights on dim 1; the rest is copied to every rank."""
    shards = [{} for _ in range(ranks)]
    for key, value in state.items():
        if "query_key_value" in key:
            q, k, v = (part.chunk(ranks, dim=0) for part in value.chunk(3, dim=0))
            parts = [torch.cat([q[r], k[r], v[r]], dim=0) for r in range(ranks)]
        elif key == "word_embeddings.weight" or "dense_h_to_4h" in key:
            parts = value.chunk(ranks, dim=0)
        elif key.endswith(("attention.dense.weight", "dense_4h_to_h.weight")):
            parts = value.chunk(ranks, dim=1)
        else:
            parts = [value] * ranks
        for shard, part in zip(shards, parts):
            shard[key] = part.clone()
    return shards


# ----------------------------------------------------------------------------- THUDM
def test_thudm_directory_with_tracker(golden_state, config_file, tanh_reference, probe, tmp_path):
    (tmp_path / "1000").mkdir()
    torch.save(training_dict(golden_state), tmp_path / "1000" / "mp_rank_00_model_states.pt")
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("1000")
    model = GLMModel.from_pretrained(str(tmp_path), config=str(config_file))
    assert model.config.activation == "gelu_tanh" and model.config.origin == "thudm"
    assert_same_logits(model, tanh_reference, probe)


def test_thudm_release_tag_and_bare_file(golden_state, config_file, tanh_reference, probe, tmp_path):
    (tmp_path / "release").mkdir()
    file = tmp_path / "release" / "mp_rank_00_model_states.pt"
    torch.save(training_dict(golden_state), file)
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("release\n")
    assert_same_logits(load_model(tmp_path, config=str(config_file)), tanh_reference, probe)
    assert_same_logits(load_model(file, config=str(config_file)), tanh_reference, probe)


@pytest.mark.parametrize("ranks", [2, 4])
def test_model_parallel_shards_merge_as_change_mp_splits(golden_state, config_file, tanh_reference, probe,
                                                         tmp_path, ranks):
    shards = split_model_parallel(golden_state, ranks)
    assert shards[0]["transformer.layers.0.attention.query_key_value.weight"].shape[0] == 3 * 32 // ranks
    (tmp_path / "2").mkdir()
    for rank, shard in enumerate(shards):
        torch.save(training_dict(shard, mp_world_size=ranks), tmp_path / "2" / f"mp_rank_{rank:02d}_model_states.pt")
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("2")
    merged = read_checkpoint(tmp_path).state
    assert all(torch.equal(merged[k], v) for k, v in golden_state.items())
    assert_same_logits(load_model(tmp_path, config=str(config_file)), tanh_reference, probe)


def test_merge_is_not_a_plain_concatenation_of_qkv(golden_state):
    # Concatenating the ranks' rows would interleave heads of Q, K and V; the merge regroups them.
    shards = split_model_parallel(golden_state, 2)
    key = "transformer.layers.0.attention.query_key_value.weight"
    naive = torch.cat([s[key] for s in shards])
    assert not torch.equal(naive, golden_state[key])
    assert torch.equal(merge_model_parallel(shards)[key], golden_state[key])


def test_missing_shard_and_mismatched_replicas_are_errors(golden_state, config_file, tmp_path):
    shards = split_model_parallel(golden_state, 4)
    for rank in (0, 1, 3):
        torch.save({"module": shards[rank]}, tmp_path / f"mp_rank_{rank:02d}_model_states.pt")
    with pytest.raises(CheckpointError, match=r"shards \[0, 1, 3\].*missing"):
        load_model(tmp_path, config=str(config_file))
    shards = split_model_parallel(golden_state, 2)
    shards[1]["transformer.final_layernorm.weight"] = shards[1]["transformer.final_layernorm.weight"] + 1
    with pytest.raises(CheckpointError, match="final_layernorm.weight differs between model-parallel shards"):
        merge_model_parallel(shards)


def test_malicious_payload_in_a_training_dict_is_refused_and_never_run(golden_state, config_file, tmp_path):
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(ran), "w"))

    torch.save(training_dict(golden_state, args=Payload()), tmp_path / "mp_rank_00_model_states.pt")
    with pytest.raises(CheckpointError, match="refused to read it: it refers to io.open") as error:
        load_model(tmp_path, config=str(config_file))
    assert not ran.exists()
    assert "weights_only=False" not in str(error.value)
    # The rng-state allowlist is scoped to the load: torch's global allowlist is unchanged.
    assert not any("numpy" in str(g) for g in torch.serialization.get_safe_globals())


# ----------------------------------------------------------------------------- FlagAI
def test_flagai_trainer_directory(golden_state, config_file, tanh_reference, probe, tmp_path):
    # flagai.utils.save_checkpoint: {'iteration_in_epoch', 'module', ...} in <iter>/pytorch_model.bin,
    # config.json beside it, and "<iteration>\t<best iteration>" in latest_iteration.txt.
    (tmp_path / "3000").mkdir()
    values = json.loads(config_file.read_text())
    for key in ("architectures", "model_type", "transformers_version", "torch_dtype"):
        values.pop(key)
    (tmp_path / "3000" / "config.json").write_text(json.dumps(values))
    saved = training_dict(golden_state, iteration_in_epoch=7)
    del saved["iteration"]
    torch.save(saved, tmp_path / "3000" / "pytorch_model.bin")
    (tmp_path / "latest_iteration.txt").write_text("3000\t2000")
    model = load_model(tmp_path)
    assert model.config.origin == "flagai" and model.config.activation == "gelu_tanh"
    assert_same_logits(model, tanh_reference, probe)


@pytest.mark.parametrize("prefix", ["", "module.", "model.", "glm.", "module.model."])
@pytest.mark.parametrize("wrapped", [True, False])
def test_flagai_hub_dicts_and_prefixes(golden_state, config_file, tanh_reference, golden_dir, probe, tmp_path,
                                       prefix, wrapped):
    shutil.copy(config_file, tmp_path / "config.json")
    weights = {prefix + k: v for k, v in golden_state.items()}
    torch.save({"module": weights} if wrapped else weights, tmp_path / "pytorch_model.bin")
    model = load_model(tmp_path)
    if prefix == "glm." and not wrapped:
        # The hub port's own layout keeps its exact (erf) GELU.
        assert model.config.origin == "hub" and model.config.activation == "gelu"
        assert_same_logits(model, GLMModel.from_pretrained(str(golden_dir)), probe)
    else:
        assert model.config.origin in ("thudm", "flagai") and model.config.activation == "gelu_tanh"
        assert_same_logits(model, tanh_reference, probe)


def test_tanh_gelu_is_flagais_formula():
    # FlagAI's (and Megatron's) gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    flagai = 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x * x)))
    config = GLMConfig(hidden_size=32, num_attention_heads=4, activation="gelu_tanh")
    from glm_tune.model import ACTIVATIONS

    assert torch.allclose(ACTIVATIONS[config.activation](x), flagai, atol=1e-12, rtol=0)
    assert (F.gelu(x) - flagai).abs().max() > 1e-4  # the erf GELU is not it


# ----------------------------------------------------------------------------- PaddleNLP layout
def test_transposed_linear_weights_are_detected_and_transposed(golden_state, config_file, tanh_reference,
                                                               probe, tmp_path):
    shutil.copy(config_file, tmp_path / "config.json")
    linear = (".query_key_value.weight", ".attention.dense.weight", ".dense_h_to_4h.weight", ".dense_4h_to_h.weight")
    paddle = {f"glm.{k}": (v.t().contiguous() if k.endswith(linear) else v) for k, v in golden_state.items()}
    save_file(paddle, str(tmp_path / "model.safetensors"))
    with pytest.warns(UserWarning, match=r"\[in, out\].*transposed all 8"):
        model = load_model(tmp_path)
    assert model.config.origin == "paddlenlp" and model.config.activation == "gelu_tanh"
    # The square `dense` weights ([h, h]) were transposed with the rest, not left as stored.
    assert torch.equal(model.transformer.layers[0].attention.dense.weight,
                       golden_state["transformer.layers.0.attention.dense.weight"])
    assert_same_logits(model, tanh_reference, probe)


def test_a_mix_of_linear_layouts_is_refused(golden_state, config_file, tmp_path):
    shutil.copy(config_file, tmp_path / "config.json")
    mixed = dict(golden_state)
    key = "transformer.layers.1.mlp.dense_h_to_4h.weight"
    mixed[key] = mixed[key].t().contiguous()
    save_file({f"glm.{k}": v for k, v in mixed.items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"dense_h_to_4h.weight is stored \[in, out\] but .* \[out, in\]"):
        load_model(tmp_path)


# ----------------------------------------------------------------------------- configs
def test_config_of_a_released_size_is_inferred_from_the_shapes(tmp_path):
    tiny = load_model("glm-tiny")
    torch.save(training_dict(tiny.state_dict()), tmp_path / "mp_rank_00_model_states.pt")
    model = load_model(tmp_path)
    shapes = ("num_layers", "hidden_size", "num_attention_heads", "max_sequence_length", "vocab_size")
    assert all(getattr(model.config, k) == getattr(tiny.config, k) for k in shapes)
    ids = torch.tensor([[16002, 40, 41, 16003, 16000, 16006, 42]])
    assert_same_logits(model, load_model("glm-tiny", activation="gelu_tanh"), ids)


def test_unknown_shapes_without_a_config_are_a_clear_error(golden_state, tmp_path):
    torch.save({"module": golden_state}, tmp_path / "mp_rank_00_model_states.pt")
    with pytest.raises(CheckpointError, match=r"no config.json and its shapes \(num_layers=2, hidden_size=32, "
                                              r"vocab_size=50048, max_sequence_length=128\).*--model_config"):
        load_model(tmp_path)


@pytest.mark.parametrize("form", ["object", "dict", "file", "directory"])
def test_config_forms(golden_state, config_file, tanh_reference, probe, tmp_path, form):
    values = json.loads(config_file.read_text())
    config = {"object": lambda: GLMConfig.from_dict(values), "dict": lambda: values,
              "file": lambda: str(config_file), "directory": lambda: str(config_file.parent)}[form]()
    torch.save(training_dict(golden_state), tmp_path / "mp_rank_00_model_states.pt")
    model = GLMModel.from_pretrained(str(tmp_path), config=config)
    assert model.config.activation == "gelu_tanh"
    assert_same_logits(model, tanh_reference, probe)


def test_known_model_name_as_config(tmp_path):
    tiny = load_model("glm-tiny")
    torch.save(tiny.state_dict(), tmp_path / "weights.pt")
    assert load_model(tmp_path / "weights.pt", config="glm-tiny").config.num_attention_heads == 4
    with pytest.raises(CheckpointError, match="model config 'glm-huge'.*neither a config.json"):
        load_model(tmp_path / "weights.pt", config="glm-huge")


def test_activation_override_wins_and_is_recorded(golden_state, config_file, tmp_path):
    torch.save({"module": golden_state}, tmp_path / "mp_rank_00_model_states.pt")
    model = load_model(tmp_path, config=str(config_file), activation="gelu")
    assert model.config.activation == "gelu"
    model.save_pretrained(str(tmp_path / "saved"))
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["activation"] == "gelu" and saved["origin"] == "thudm"


# ----------------------------------------------------------------------------- convert
def test_convert_writes_the_hub_layout_with_the_activation(golden_state, config_file, tanh_reference, probe,
                                                           tmp_path, capsys):
    from glm_tune.cli import main

    for rank, shard in enumerate(split_model_parallel(golden_state, 2)):
        torch.save(training_dict(shard), tmp_path / f"mp_rank_{rank:02d}_model_states.pt")
    main(["convert", str(tmp_path), str(tmp_path / "hub"), "--model-config", str(config_file)])
    assert "gelu_tanh" in capsys.readouterr().out
    saved = json.loads((tmp_path / "hub" / "config.json").read_text())
    assert saved["activation"] == "gelu_tanh" and saved["origin"] == "thudm"
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["config.json", "model.safetensors"]
    converted = load_model(tmp_path / "hub")
    assert converted.config.activation == "gelu_tanh"
    assert_same_logits(converted, tanh_reference, probe)


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict", "fill", "pretrain", "convert"])
def test_every_command_takes_model_config_and_activation(command, capsys):
    from glm_tune.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--model-config" in out and "--activation" in out


def test_fill_a_thudm_checkpoint_from_the_cli(golden_state, config_file, tokenizers_dir, tmp_path, capsys):
    from glm_tune.cli import main

    torch.save(training_dict(golden_state), tmp_path / "mp_rank_00_model_states.pt")
    common = ["--model", str(tmp_path), "--model-config", str(config_file), "--tokenizer",
              str(tokenizers_dir / "glm-chinese"), "--max-new-tokens", "3"]
    main(["fill", "北京[MASK]是中国的首都。", *common])
    tanh = capsys.readouterr().out
    main(["fill", "北京[MASK]是中国的首都。", *common, "--activation", "gelu"])
    assert tanh.startswith("北京") and capsys.readouterr().out.startswith("北京")
    with pytest.raises(SystemExit):
        main(["fill", "北京[MASK]", "--model", str(tmp_path), "--tokenizer", str(tokenizers_dir / "glm-chinese")])
    assert "--model-config" in capsys.readouterr().err


def test_a_payload_from_a_blocked_module_is_refused_without_torchs_advice(tmp_path):
    # torch words this refusal differently ("unsupported GLOBAL posix.system whose module posix is
    # blocked") and opens it with the advice to load with weights_only=False, never to be relayed.
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {ran}",))

    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError) as error:
        load_tensors(tmp_path / "evil.ckpt")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'evil.ckpt'}: refused to read it: it refers to "
                              f"{os.system.__module__}.system, which is not plain data.")
    assert "weights_only" not in message and not ran.exists()
