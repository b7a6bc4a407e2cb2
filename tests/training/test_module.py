"""ClozeModule: every task kind trains and evaluates; losses, prompt tuning, precision, NaN stop."""

import json

import pytest
import torch
from safetensors.torch import load_file

from glm_tune.cloze.scoring import score_candidates
from glm_tune.model import load_model
from glm_tune.task.registry import get_task
from glm_tune.tokenizer import load_tokenizer
from glm_tune.training.data import ClozeDataModule, DataOptions, collate
from glm_tune.training.module import ClozeModule, TrainingOptions
from glm_tune.training.run import FitConfig, fit, predict
from glm_tune.training.trainer import NonFiniteLossError, TrainerOptions


@pytest.fixture(scope="module")
def golden(shared):
    return shared / "golden" / "glm-ref-zh", shared / "tokenizers" / "glm-chinese"


def _config(golden, out, task, data_dir, *, data=None, training=None, trainer=None, **top):
    model, tokenizer = golden
    return FitConfig(
        task=task, model=str(model), tokenizer=str(tokenizer), output_dir=str(out),
        data=DataOptions(data_dir=str(data_dir), batch_size=4, **(data or {})),
        training=TrainingOptions(**{"learning_rate": 1e-3, **(training or {})}),
        trainer=TrainerOptions(**{"max_epochs": 1, "progress_bar": False, "accelerator": "cpu", **(trainer or {})}),
        **top,
    )


def _copa_batch(golden, shared):
    model = load_model(golden[0])
    tokenizer = load_tokenizer(golden[1])
    options = DataOptions(data_dir=str(shared / "data" / "fewglue" / "COPA"), train_limit=4, batch_size=4)
    data = ClozeDataModule(get_task("copa"), tokenizer, options, seed=1)
    batch = collate(data.split("train").examples)
    return model, tokenizer, batch


@pytest.mark.parametrize("loss", ["cross_entropy", "mix", "generative"])
def test_multiple_choice_losses_are_computed_from_exact_candidate_scores(golden, shared, loss):
    model, tokenizer, batch = _copa_batch(golden, shared)
    module = ClozeModule(model.eval(), tokenizer, get_task("copa"), TrainingOptions(loss=loss)).eval()
    scores = torch.stack(score_candidates(model, batch["contexts"], batch["mask_positions"], batch["candidates"],
                                          sop_id=tokenizer.sop_token_id, eop_id=tokenizer.eop_token_id,
                                          pad_id=tokenizer.pad_token_id))
    gold = torch.tensor([g[0] for g in batch["golds"]])
    cross_entropy = torch.nn.functional.cross_entropy(scores, gold)
    gold_scores = scores.gather(1, gold[:, None]).mean()
    expected = {"cross_entropy": cross_entropy, "mix": cross_entropy - gold_scores, "generative": -gold_scores}[loss]
    got = module.cloze_loss(module.candidate_scores(batch), batch)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_copa_fits_and_reports_accuracy(golden, shared, tmp_path):
    config = _config(golden, tmp_path / "copa", "copa", shared / "data" / "fewglue" / "COPA",
                     data={"validation_split": "train", "eval_limit": 8, "train_limit": 8})
    result = fit(config)
    assert set(result.metrics) == {"val/accuracy"} and 0 <= result.metrics["val/accuracy"] <= 1


_GENERATION_TASK = '''
from glm_tune.cloze.generation import GenerationConfig
from glm_tune.task.registry import Task
from glm_tune.cloze.template import Patterns, Template

TOY = Task(
    name="toy_title", kind="generation", language="zh",
    patterns=Patterns({0: Template("{content}标题：[gMASK]")}),
    files={"train": "train.jsonl", "validation": "dev.jsonl"}, file_format="jsonl",
    fields=("content",), metrics=("rougeL",), metric_options={"language": "zh"},
    target=lambda row: row["title"], generation=GenerationConfig(max_new_tokens=6),
)
'''


def test_generation_task_from_a_user_file_trains_and_predicts(golden, tmp_path):
    (tmp_path / "toy.py").write_text(_GENERATION_TASK)
    rows = [{"content": "今天天气很好，我们去公园散步。", "title": "公园散步"},
            {"content": "他在图书馆读了一整天的书。", "title": "读书"}]
    for name in ("train.jsonl", "dev.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    config = _config(golden, tmp_path / "run", f"{tmp_path / 'toy.py'}:TOY", tmp_path,
                     training={"learning_rate": 1e-2, "warmup_ratio": 0.0},
                     trainer={"max_epochs": 40, "log_every_n_steps": 1})
    result = fit(config)
    losses = [float(line.split(",")[2]) for line in
              (tmp_path / "run" / "logs" / "version_0" / "metrics.csv").read_text().splitlines()[1:]
              if line.split(",")[2]]
    assert losses[-1] < 0.5 * losses[0]
    assert 0 <= result.metrics["val/rougeL"] <= 1
    out = predict(FitConfig(task="", model=str(tmp_path / "run" / "model"), tokenizer=str(golden[1]),
                            trainer=TrainerOptions(progress_bar=False)), tmp_path / "dev.jsonl").predictions
    predictions = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["title"] for p in predictions] == ["公园散步", "读书"]
    assert all(isinstance(p["prediction"], str) for p in predictions)


def test_prompt_tuning_with_frozen_backbone_trains_only_the_prompt(golden, shared, tmp_path):
    config = _config(golden, tmp_path / "pt", "sst2", shared / "data" / "sst2",
                     data={"train_limit": 8, "eval_limit": 8},
                     training={"prompt_tokens": 3, "freeze_backbone": True, "prompt_encoder": "mlp"})
    before = load_model(golden[0]).state_dict()
    result = fit(config)
    after = load_file(str(tmp_path / "pt" / "model" / "model.safetensors"))
    assert all(torch.equal(before[k.removeprefix("glm.")], v) for k, v in after.items())
    prompt = load_file(str(tmp_path / "pt" / "model" / "prompt_encoder.safetensors"))
    assert prompt["embeddings"].shape == (3, 32)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"sentence": "a charming journey"}\n')
    out = predict(FitConfig(task="", model=str(tmp_path / "pt" / "model"), trainer=TrainerOptions(progress_bar=False)),
                  rows).predictions
    assert json.loads(out.read_text())["prediction"] in ("0", "1")
    assert 0 <= result.metrics["val/accuracy"] <= 1


def test_bf16_mixed_precision_trains(golden, shared, tmp_path):
    config = _config(golden, tmp_path / "bf16", "sst2", shared / "data" / "sst2",
                     data={"train_limit": 8, "eval_limit": 8}, trainer={"precision": "bf16-mixed"})
    assert 0 <= fit(config).metrics["val/accuracy"] <= 1


def test_a_nan_loss_stops_training_with_a_clear_error(golden, shared, tmp_path):
    broken = tmp_path / "broken"
    model = load_model(golden[0])
    with torch.no_grad():
        model.word_embeddings.weight[:] = float("nan")
    from glm_tune.model import save_model

    save_model(model, broken)
    config = _config((broken, golden[1]), tmp_path / "nan", "sst2", shared / "data" / "sst2",
                     data={"train_limit": 8, "eval_limit": 8})
    with pytest.raises(NonFiniteLossError, match="loss is nan in epoch 0, after 0 optimizer steps"):
        fit(config)
    assert not (tmp_path / "nan" / "model").exists()


@pytest.mark.parametrize("kind", ["classification", "multiple_choice"])
def test_cloze_loss_averages_labelled_rows_and_ignores_the_rest(kind):
    from types import SimpleNamespace

    scores = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -1e4, -1e4], [-2.0, -1.0, -3.0]], requires_grad=True)
    golds = [[2], [], [0, 1]] if kind == "multiple_choice" else [[2], [], [1]]
    batch = {"golds": golds, "labels": torch.tensor([g[0] if g else -1 for g in golds])}
    # -log(sum of gold probabilities / sum of all), averaged over the rows that have a gold;
    # generative: minus the mean log of the summed gold scores.
    labelled = [i for i, g in enumerate(golds) if g]
    probs = scores.detach().softmax(-1)
    expected = {
        "cross_entropy": -torch.stack([probs[i, golds[i]].sum().log() for i in labelled]).mean(),
        "generative": -torch.stack([scores.detach()[i, golds[i]].exp().sum().log() for i in labelled]).mean(),
    }
    for loss_kind, reference in expected.items():
        module = SimpleNamespace(task=SimpleNamespace(kind=kind), loss_kind=loss_kind)
        loss = ClozeModule.cloze_loss(module, scores, batch)
        torch.testing.assert_close(loss, reference)
        scores.grad = None
        loss.backward()
        assert torch.isfinite(scores.grad).all() and not scores.grad[1].any()
