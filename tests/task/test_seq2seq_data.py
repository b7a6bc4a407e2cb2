"""LCSTS and CMRC 2018 on the real shared files: readers, located errors, a short finetune whose
ROUGE is recomputed independently from its own generations, batched validation, and predict on
unlabelled questions."""

from __future__ import annotations

import json
from itertools import islice

import pytest

from glm_tune.cloze.decoding import DecodingOptions
from glm_tune.metrics.postprocess import clean_summary
from glm_tune.model import GLMModel
from glm_tune.task.readers import DataError
from glm_tune.task.registry import get_task
from glm_tune.training.data import DataOptions
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig, evaluate, fit, predict
from glm_tune.training.trainer import TrainerOptions


@pytest.fixture(scope="module")
def lcsts_dir(shared):
    return shared / "data" / "lcsts"


@pytest.fixture(scope="module")
def cmrc_dir(shared):
    return shared / "data" / "cmrc2018"


def _head(path, lines: int) -> str:
    with path.open(encoding="utf-8") as handle:
        return "".join(islice(handle, lines))


def test_lcsts_real_rows_through_the_reader(lcsts_dir, tmp_path):
    task = get_task("lcsts")
    data, report = task.load_split("validation", lcsts_dir)
    assert len(data) == 1000 and not report.bad_rows
    first = data[0]
    assert first["target"] == "李嘉诚回应“撤资”等质疑：是一个大笑话" and first["source"].startswith("面对撤资中国内地")
    assert first["_source"].endswith("val.tsv:1")
    (tmp_path / "train.tsv").write_text(_head(lcsts_dir / "train.tsv", 3) + "only one cell\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.tsv:4: 1 tab-separated cells, CLGE has 2 \(summary, text"):
        task.load_split("train", tmp_path)
    (tmp_path / "train.tsv").write_text(_head(lcsts_dir / "train.tsv", 3) + "摘要\t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.tsv:4: missing field 'source'"):
        task.load_split("train", tmp_path)
    data, report = task.load_split("train", tmp_path, skip_bad_rows=True)
    assert len(data) == 3 and len(report.bad_rows) == 1


def test_cmrc_real_files_trial_as_training_split(cmrc_dir):
    task = get_task("cmrc2018")
    # The trial file has two questions with an empty text: located errors, skippable.
    with pytest.raises(DataError, match=r"cmrc2018_trial.json:9738: missing field 'question'"):
        task.load_split("trial", cmrc_dir)
    trial, report = task.load_split("trial", cmrc_dir, skip_bad_rows=True)
    assert len(trial) == 1000 and len(report.bad_rows) == 2
    dev, _ = task.load_split("validation", cmrc_dir)
    assert len(dev) == 3219
    row = dev[0]
    assert row["answers"] and task.target(row) == row["answers"][0] and row["answer"] in row["context"]


def test_cmrc_answerless_question_is_a_located_error(cmrc_dir, tmp_path):
    article = json.loads((cmrc_dir / "cmrc2018_dev.json").read_text(encoding="utf-8"))["data"][0]
    article["paragraphs"][0]["qas"][1]["answers"] = []
    (tmp_path / "cmrc2018_dev.json").write_text(json.dumps({"data": [article]}, ensure_ascii=False, indent=1),
                                                encoding="utf-8")
    with pytest.raises(DataError, match=r"cmrc2018_dev.json:\d+: missing field 'answers'"):
        get_task("cmrc2018").load_split("validation", tmp_path)


def _lcs(a: str, b: str) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def _chars(text: str) -> str:
    """The characters Chinese ROUGE compares, for these rows (no Latin letters or digits in the
    generated or gold texts checked below): CJK ideographs."""
    return "".join(c for c in text if "\u4e00" <= c <= "\u9fff")


def _rouge_l(prediction: str, reference: str) -> float:
    p, r = _chars(prediction), _chars(reference)
    lcs = _lcs(p, r)
    return 0.0 if lcs == 0 else 2 * lcs / (len(p) + len(r))


@pytest.fixture(scope="module")
def lcsts_run(lcsts_dir, tmp_path_factory):
    """glm-tiny finetuned on 32 real LCSTS rows for 4 steps, validated on 8 held-out rows whose
    texts and summaries are all Chinese characters and punctuation."""
    root = tmp_path_factory.mktemp("lcsts")
    data = root / "data"
    data.mkdir()
    (data / "train.tsv").write_text(_head(lcsts_dir / "train.tsv", 32), encoding="utf-8")
    val = [line for line in _head(lcsts_dir / "val.tsv", 40).splitlines(keepends=True)
           if not any(c.isascii() and c.isalnum() for c in line)][:8]
    (data / "val.tsv").write_text("".join(val), encoding="utf-8")
    config = FitConfig(
        task="lcsts", model="glm-tiny", output_dir=str(root / "run"),
        data=DataOptions(data_dir=str(data), batch_size=8, eval_batch_size=8, max_length=128),
        training=TrainingOptions(learning_rate=1e-3),
        trainer=TrainerOptions(max_epochs=None, max_steps=4, progress_bar=False, accelerator="cpu"),
        decoding=DecodingOptions(decoding_strategy="greedy", max_new_tokens=12),
    )
    result = fit(config)
    predictions = predict(FitConfig(task="", model=str(result.model_dir), data=config.data, decoding=config.decoding),
                          data / "val.tsv", root / "val.predictions.jsonl")
    rows = [json.loads(line) for line in predictions.predictions.read_text(encoding="utf-8").splitlines()]
    return config, result, rows


def test_lcsts_rouge_is_computed_from_the_models_generations(lcsts_run):
    config, result, rows = lcsts_run
    assert len(rows) == 8 and all(set(r) >= {"source", "target", "prediction"} for r in rows)
    assert any(r["prediction"] for r in rows)
    expected = sum(_rouge_l(r["prediction"], r["target"]) for r in rows) / len(rows)
    assert expected > 0
    assert result.metrics["val/rougeL"] == pytest.approx(expected, abs=1e-6)


def test_lcsts_rouge_matches_rouge_score(lcsts_run):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    _, result, rows = lcsts_run

    class Characters:
        def tokenize(self, text):
            return list(_chars(text))

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=Characters())
    scores = [scorer.score(r["target"], r["prediction"]) for r in rows]
    for name in ("rouge1", "rouge2", "rougeL"):
        expected = sum(s[name].fmeasure for s in scores) / len(scores)
        assert result.metrics[f"val/{name}"] == pytest.approx(expected, abs=1e-6), name


def test_rouge_postprocess_scores_the_cleaned_generations(lcsts_run):
    config, result, rows = lcsts_run
    cleaned = FitConfig(task="", model=str(result.model_dir), data=config.data,
                        decoding=DecodingOptions(**{**config.decoding.__dict__, "rouge_postprocess": True}))
    metrics = evaluate(cleaned).metrics
    expected = sum(_rouge_l(clean_summary(r["prediction"], "zh"), r["target"]) for r in rows) / len(rows)
    assert metrics["val/rougeL"] == pytest.approx(expected, abs=1e-6)


def test_validation_generates_a_whole_batch_at_once(lcsts_run, monkeypatch):
    config, result, _ = lcsts_run
    calls = []
    forward = GLMModel.forward

    def counting(self, input_ids, *args, **kwargs):
        calls.append(tuple(input_ids.shape))
        return forward(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(GLMModel, "forward", counting)
    evaluate(FitConfig(task="", model=str(result.model_dir), data=config.data, decoding=config.decoding))
    # One left-padded encoding of the 8 contexts of mixed lengths, then one cached step of 8 rows per token.
    assert calls[0][0] == 8 and calls[0][1] > 1
    assert all(shape == (8, 1) for shape in calls[1:]) and 1 <= len(calls) - 1 <= config.decoding.max_new_tokens


def test_predict_unlabelled_cmrc_questions_writes_one_line_each(cmrc_dir, tmp_path):
    """CLUE's test.json is SQuAD JSON without answers: read with the task's reader."""
    article = json.loads((cmrc_dir / "cmrc2018_dev.json").read_text(encoding="utf-8"))["data"][0]
    paragraph = article["paragraphs"][0]
    paragraph["qas"] = [{"id": qa["id"], "question": qa["question"]} for qa in paragraph["qas"][:2]]
    article["paragraphs"] = [paragraph]
    (tmp_path / "test.json").write_text(json.dumps({"version": "v1.0", "data": [article]}, ensure_ascii=False),
                                        encoding="utf-8")
    config = FitConfig(task="cmrc2018", model="glm-tiny", data=DataOptions(max_length=256),
                       decoding=DecodingOptions(decoding_strategy="greedy", max_new_tokens=6))
    result = predict(config, tmp_path / "test.json", tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in result.predictions.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [qa["id"] for qa in paragraph["qas"]]
    assert all(isinstance(line["prediction"], str) for line in lines)
