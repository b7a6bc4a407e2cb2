"""LoRA through peft: only the adapters train, adapter and merged weights predict alike, resume works."""

import json

import lightning.pytorch as pl
import pytest
import torch
from safetensors.torch import load_file

from glm_tune.checkpoint import CheckpointError
from glm_tune.model import load_model
from glm_tune.training.data import DataOptions
from glm_tune.training.lora import add_lora
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig, evaluate, fit, predict
from glm_tune.training.trainer import TrainerOptions


@pytest.fixture(scope="module")
def small(shared):
    def config(out, training=None, trainer=None, **changes):
        return FitConfig(
            task="sst2", model=str(shared / "golden" / "glm-ref-zh"),
            tokenizer=str(shared / "tokenizers" / "glm-chinese"), output_dir=str(out),
            data=DataOptions(data_dir=str(shared / "data" / "sst2"), train_limit=48, eval_limit=24, batch_size=8),
            training=TrainingOptions(learning_rate=1e-2, lora_rank=4, **(training or {})),
            trainer=TrainerOptions(max_epochs=2, progress_bar=False, accelerator="cpu", loggers=[], **(trainer or {})),
            **changes,
        )

    return config


def _predictions(model_dir, rows, out, **changes):
    config = FitConfig(model=str(model_dir), trainer=TrainerOptions(progress_bar=False), **changes)
    path = predict(config, rows, out).predictions
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lora_trains_only_the_adapters_and_merged_weights_predict_the_same(shared, small, tmp_path):
    base = load_model(shared / "golden" / "glm-ref-zh").state_dict()
    result = fit(small(tmp_path / "run", training=dict(merge_lora=True)))
    run = tmp_path / "run"

    trained = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    adapters = {k: v for k, v in trained.items() if ".lora_" in k}
    assert len(adapters) == 2 * 4 * 2  # A and B of 4 linear layers in each of 2 layers
    for key, value in trained.items():
        if ".lora_" not in key:
            name = key.removeprefix("model.").replace(".base_layer.", ".")
            assert torch.equal(value, base[name]), f"{name} changed: the backbone must stay frozen"
    # lora_B starts at zero (peft), so a trained update is non-zero.
    assert all(v.abs().sum() > 0 for k, v in adapters.items() if ".lora_B." in k)

    # OUTPUT_DIR/adapter: peft's files over the base model; OUTPUT_DIR/model: merged hub layout.
    adapter = run / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["peft_type"] == "LORA"
    assert config["base_model_name_or_path"] == str((shared / "golden" / "glm-ref-zh").resolve())
    assert all(k.startswith("base_model.model.") for k in load_file(str(adapter / "adapter_model.safetensors")))
    assert not (result.model_dir / "adapter_config.json").exists()
    merged = load_model(result.model_dir).state_dict()
    assert set(merged) == set(base)
    assert not torch.equal(merged["transformer.layers.0.attention.query_key_value.weight"],
                           base["transformer.layers.0.attention.query_key_value.weight"])

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sentence": "a charming and often affecting journey"}\n{"sentence": "bleak and desperate"}\n'
                    '{"sentence": "it is a film that will have people walking out halfway through"}\n')
    from_adapter = _predictions(adapter, rows, tmp_path / "a.jsonl")
    from_merged = _predictions(result.model_dir, rows, tmp_path / "m.jsonl")
    assert [p["prediction"] for p in from_adapter] == [p["prediction"] for p in from_merged]
    for a, m in zip(from_adapter, from_merged):
        for label in a["scores"]:
            assert a["scores"][label] == pytest.approx(m["scores"][label], abs=1e-4)
    # best.ckpt holds the adapters: it evaluates over the adapter directory, not the merged model.
    best = str(run / "checkpoints" / "best.ckpt")
    data = DataOptions(data_dir=str(shared / "data" / "sst2"), eval_limit=24)
    with pytest.raises(CheckpointError, match="holds LoRA adapters but the model given has none"):
        evaluate(FitConfig(model=str(result.model_dir), data=data), "validate", best)
    again = evaluate(FitConfig(model=str(adapter), trainer=TrainerOptions(progress_bar=False), data=data),
                     "validate", best)
    assert again.metrics["val/accuracy"] == result.metrics["val/accuracy"]
    # And they are the finetuned model's, not the base model's.
    assert any(p["scores"] != q["scores"] for p, q in
               zip(from_merged, _predictions(shared / "golden" / "glm-ref-zh", rows, tmp_path / "b.jsonl", task="sst2",
                                tokenizer=str(shared / "tokenizers" / "glm-chinese"))))


class _StopAt(pl.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise RuntimeError("stopped on purpose")


def test_resumed_lora_run_reaches_the_uninterrupted_adapter(small, tmp_path):
    changes = dict(training=dict(lora_dropout=0.1), trainer=dict(checkpoint_every_n_steps=2))
    fit(small(tmp_path / "reference", **changes))
    with pytest.raises(RuntimeError, match="on purpose"):
        fit(small(tmp_path / "stopped", **changes), callbacks=[_StopAt(9)])
    assert torch.load(tmp_path / "stopped" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 8
    fit(small(tmp_path / "stopped", resume=True, **changes))
    a = load_file(str(tmp_path / "reference" / "model" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "stopped" / "model" / "adapter_model.safetensors"))
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_lora_with_p_tuning_and_a_frozen_backbone(small, tmp_path):
    result = fit(small(tmp_path / "pt", training=dict(prompt_tokens=2, prompt_encoder="mlp", freeze_backbone=True),
                       trainer=dict(max_steps=2)))
    assert (result.model_dir / "adapter_model.safetensors").is_file()
    assert (result.model_dir / "prompt_encoder.safetensors").is_file()
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sentence": "bleak and desperate"}\n')
    assert _predictions(result.model_dir, rows, tmp_path / "p.jsonl")[0]["prediction"] in ("0", "1")


def test_unknown_lora_target_is_named(shared):
    model = load_model(shared / "golden" / "glm-ref-zh")
    with pytest.raises(ValueError, match=r"--lora_targets \['qkv'\]: \['qkv'\] name no linear layer.*query_key_value"):
        add_lora(model, 4, 8, 0.0, ["qkv"])
