"""SuperGLUE (FewGLUE files) and GLUE TSV tasks: loading, GLM's patterns, label words, expansions, metrics."""

from __future__ import annotations

import random

import pytest

from glm_tune.metrics import build_metric, build_metrics
from glm_tune.task.readers import DataError
from glm_tune.task.registry import get_task

CLASSIFICATION = {"boolq": "BoolQ", "cb": "CB", "rte": "RTE", "wic": "WiC"}
MULTIPLE_CHOICE = {"copa": "COPA", "wsc": "WSC", "record": "ReCoRD"}


def fewglue(shared, folder):
    return shared / "data" / "fewglue" / folder


def check_blank(task, row, tokenizer, pattern_id=None):
    pattern_id = task.default_pattern_id if pattern_id is None else pattern_id
    encoded = task.patterns[pattern_id].encode(row, tokenizer, task.max_length, reserve=1)
    assert encoded.input_ids.count(tokenizer.mask_token_id) == 1
    assert encoded.input_ids[encoded.mask_position] == tokenizer.mask_token_id
    assert len(encoded.input_ids) + 1 <= task.max_length
    return encoded


@pytest.mark.parametrize("name", sorted(CLASSIFICATION))
def test_classification_tasks_load_render_and_verbalize(name, shared, bert, gpt2):
    task = get_task(name)
    data, report = task.load_split("train", fewglue(shared, CLASSIFICATION[name]))
    assert len(data) == 32 and report.bad_rows == []
    task.label_words().check_labels(data["label"])
    for row in data.select(range(4)):
        check_blank(task, row, bert)
    for pattern_id in task.patterns:
        check_blank(task, data[0], bert, pattern_id)
        for tokenizer in (bert, gpt2):
            assert task.label_words(pattern_id).tokenize(tokenizer).single_token  # raises on <unk>


def test_boolq_and_wic_labels_are_strings(shared):
    data, _ = get_task("boolq").load_split("train", fewglue(shared, "BoolQ"))
    assert set(data["label"]) == {"True", "False"}
    text = get_task("boolq").patterns[4].render(data[0]).text
    assert text.startswith("Based on the following passage ") and "anime?[MASK]. Ghost" in text


def test_rte_pattern0_is_glms(shared):
    task = get_task("rte")
    row = {"premise": "A man sleeps.", "hypothesis": "Someone rests.", "label": "entailment"}
    assert task.patterns[0].render(row).text == '"Someone rests" ?[MASK], "A man sleeps."'
    assert task.patterns[4].render(row).text == "A man sleeps. question: Someone rests. True or False? answer:[MASK]"


def test_copa_candidates_patterns_and_mirroring(shared, bert):
    task = get_task("copa")
    train, _ = task.load_split("train", fewglue(shared, "COPA"))
    assert len(train) == 64  # 32 rows + 32 mirrors
    row, mirror = train[0], train[1]
    assert mirror["mirrored"] and mirror["choice1"] == row["choice2"] and mirror["label"] == 1 - row["label"]
    assert task.candidates(row) == [" the chandelier dropped from the ceiling", " the chandelier's lights flickered on and off"]
    assert task.answer(row) == 0 and task.answer(mirror) == 1
    text = task.patterns[0].render(row).text
    assert text == ('"the chandelier dropped from the ceiling" or "the chandelier\'s lights flickered on and off"? '
                    "The chandelier shattered on the floor because[MASK].")
    effect = next(r for r in train if r["question"] == "effect")
    assert ", so[MASK]." in task.patterns[1].render(effect).text
    check_blank(task, row, bert)
    for candidate in task.candidates(row):
        assert bert.unk_token_id not in bert.encode(candidate, add_special_tokens=False)
    rows = [dict(r) for r in train.select(range(0, 64, 2))]
    assert len(task.expand([dict(r) for r in rows], "validation", random.Random(0))) == 32


def test_wsc_candidates_and_answers(shared, bert):
    task = get_task("wsc")
    train, _ = task.load_split("train", fewglue(shared, "WSC"))
    assert len(train) == 32  # FewGLUE: all True, no negatives in the data
    row = train[0]
    assert task.candidates(row) == [" Tina"] and task.answer(row) == [0]
    text = task.patterns[2].render(row).text
    assert "*it*" in text and text.endswith("what does the pronoun '*it*' refer to? Answer:[MASK].")
    check_blank(task, row, bert)
    # Official WSC asks about several referents of one pronoun; the wrong ones become negatives.
    text = "Mark told Pete many lies about himself. He should have been more skeptical."
    rows = [
        {"text": text, "target": {"span1_text": "Pete", "span1_index": 2, "span2_text": "He", "span2_index": 7}, "label": True},
        {"text": text, "target": {"span1_text": "Mark", "span1_index": 0, "span2_text": "He", "span2_index": 7}, "label": False},
    ]
    evaluation = task.expand([dict(r) for r in rows], "validation", random.Random(0))
    assert [r["candidates"] for r in evaluation] == [["Pete", "Mark"], ["Mark", "Pete"]]
    assert [task.answer(r) for r in evaluation] == [[0], [1]]
    assert len(task.expand([dict(r) for r in rows], "train", random.Random(0))) == 1
    metric = build_metric("accuracy")
    metric.update([0, 0], [0, 1])  # predicted span1 both times: right, then wrong
    assert float(metric.compute()) == 0.5


def test_record_expansion_and_metrics(shared, bert):
    task = get_task("record")
    folder = fewglue(shared, "ReCoRD")
    train, _ = task.load_split("train", folder)
    from glm_tune.task.readers import read_rows

    raw, _ = read_rows(folder / "train.jsonl", "jsonl", ["passage"])
    golds = sum(len({a["text"] for a in qa["answers"]}) for r in raw for qa in r["qas"])
    assert len(train) == golds
    assert all(len(r["entities"]) <= 10 and r["entities"][0] == r["answers"][0] for r in train)
    assert all(task.answer(r) == [0] for r in train)
    first = raw[0]
    assert first["passage"]["text"][3:16] == "Hamish Mackay"
    evaluation = task.expand([dict(r) for r in raw], "validation", random.Random(0))
    assert len(evaluation) == sum(len(r["qas"]) for r in raw)
    row = evaluation[0]
    entities = row["entities"]
    assert len(entities) == len(set(entities)) and "Olimpija Ljubljana" in entities and "Hamish Mackay" in entities
    assert row["answers"] == ["Olimpija Ljubljana"] and task.answer(row) == [entities.index("Olimpija Ljubljana")]
    assert "@highlight" not in row["passage"] and "\n- Chelsea come from behind" in row["passage"]
    # sampled negatives depend on the seed only
    again = task.expand([dict(r) for r in raw], "train", random.Random(1234))
    assert [r["entities"] for r in again] == train["entities"]
    encoded = check_blank(task, row, bert)
    assert encoded.text.endswith("the best thing was that[MASK] made it difficult.")
    for candidate in task.candidates(row)[:5]:
        assert bert.unk_token_id not in bert.encode(candidate, add_special_tokens=False)
    metrics = build_metrics(task.metrics)
    predictions = [entities.index("Olimpija Ljubljana"), entities.index("Hamish Mackay")]
    metrics.update([entities[i] for i in predictions], [row["answers"], ["Mackay"]])
    scores = {k: float(v) for k, v in metrics.compute().items()}
    assert scores["em"] == 0.5 and 0.5 < scores["f1"] < 1.0


def test_multirc_expansion_groups_and_metrics(shared, bert):
    task = get_task("multirc")
    data, report = task.load_split("train", fewglue(shared, "MultiRC"))
    from glm_tune.task.readers import read_rows

    raw, _ = read_rows(fewglue(shared, "MultiRC") / "train.jsonl", "jsonl", ["passage"])
    options = sum(len(q["answers"]) for r in raw for q in r["passage"]["questions"])
    questions = {(r["idx"], q["idx"]) for r in raw for q in r["passage"]["questions"]}
    assert len(data) == options and report.rows == options
    assert len(set(data["question_id"])) == len(questions)
    assert set(data["label"]) == {"0", "1"}
    assert data[0]["question_id"] == "p6-q56" and data[0]["answer"] == "He welcomes him with open arm"
    assert data[0]["_source"].endswith("train.jsonl:1")
    for pattern_id in task.patterns:
        check_blank(task, data[0], bert, pattern_id)
        assert task.label_words(pattern_id).tokenize(bert).single_token
    assert "? Is it He welcomes him with open arm?[MASK]." in task.patterns[0].render(data[0]).text
    metrics = build_metrics(task.metrics)
    gold = [int(label) for label in data["label"][:7]]  # the 7 options of question p6-q56
    predicted = list(gold)
    predicted[0] = 1 - predicted[0]
    metrics.update(predicted + gold[:3], gold + gold[:3], question_ids=data["question_id"][:7] + ["x", "x", "x"])
    scores = {k: float(v) for k, v in metrics.compute().items()}
    assert scores["multirc_em"] == 0.5 and 0.0 < scores["f1a"] < 1.0


def test_multirc_bad_label_is_located(tmp_path):
    (tmp_path / "val.jsonl").write_text(
        '{"idx": 0, "passage": {"text": "P.", "questions": [{"question": "Q?", "idx": 0, '
        '"answers": [{"text": "A", "idx": 0, "label": 1}, {"text": "B", "idx": 1, "label": 7}]}]}}\n'
    )
    from glm_tune.task.readers import DataError

    with pytest.raises(DataError, match="val.jsonl:1: field 'label': label '7'"):
        get_task("multirc").load_split("validation", tmp_path)
    data, report = get_task("multirc").load_split("validation", tmp_path, skip_bad_rows=True)
    assert len(data) == 1 and len(report.bad_rows) == 1


def test_fewglue_splits_documented():
    for name in [*CLASSIFICATION, *MULTIPLE_CHOICE, "multirc"]:
        task = get_task(name)
        assert task.files["train"] == "train.jsonl" and task.files["validation"] == "val.jsonl"
        assert task.files["dev32"] == "dev32.jsonl" and "dev32.jsonl" in task.description


def test_classification_metrics(shared):
    cb = build_metrics(get_task("cb").metrics, num_classes=3)
    cb.update([0, 1, 2, 0], [0, 1, 1, 0])
    scores = {k: float(v) for k, v in cb.compute().items()}
    assert scores["accuracy"] == 0.75 and scores["f1_macro"] < 1.0
    for name in ("boolq", "rte", "wic", "copa"):
        metric = build_metric(get_task(name).metrics[0], **({} if name == "copa" else {"num_classes": 2}))
        metric.update([1, 0, 1, 1], [1, 0, 0, 1])
        assert float(metric.compute()) == 0.75


# ---- GLUE TSV tasks (no real files in shared/data: fixtures in the original format) ----

GLUE_FIXTURES = {
    "glue-rte": "index\tsentence1\tsentence2\tlabel\n"
                "0\tNo Weapons of Mass Destruction Found in Iraq Yet.\tWeapons of Mass Destruction Found in Iraq.\tnot_entailment\n"
                "1\tA place of sorrow, after Pope John Paul II died, became a place of celebration.\tPope John Paul II died.\tentailment\n",
    "mrpc": "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
            "1\t702876\t702977\tAmrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .\t"
            "Referring to him as only \" the witness \" , Amrozi accused his brother of deliberately distorting his evidence .\n"
            "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain to Safeway in 1998 for $ 2.5 billion .\t"
            "Yucaipa bought Dominick 's in 1995 for $ 693 million and sold it to Safeway for $ 1.8 billion in 1998 .\n",
    "qnli": "index\tquestion\tsentence\tlabel\n"
            "0\tWhen did the third Digimon series begin?\tUnlike the two seasons before it, it was darker.\tnot_entailment\n"
            "1\tWhich missile batteries often have individual launchers several kilometres from one another?\t"
            "When MANPADS is operated by specialists, batteries may have several dozen teams deploying separately.\tentailment\n",
    "cola": "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
            "gj04\t0\t*\tThey drank the pub.\n",
}
GLUE_METRIC_OPTIONS = {"accuracy": {"num_classes": 2}, "mcc": {"num_classes": 2}, "f1a": {}}


@pytest.mark.parametrize("name", sorted(GLUE_FIXTURES))
def test_glue_tasks_read_original_tsv(name, tmp_path, bert, gpt2):
    (tmp_path / "dev.tsv").write_text(GLUE_FIXTURES[name])
    task = get_task(name)
    data, report = task.load_split("validation", tmp_path)
    assert len(data) == 2 and report.bad_rows == []
    labels = data[task.label_field]
    task.label_words().check_labels(labels)
    for pattern_id in task.patterns:
        for row in data:
            check_blank(task, row, bert, pattern_id)
        for tokenizer in (bert, gpt2):
            assert task.label_words(pattern_id).tokenize(tokenizer).single_token
    gold = [task.label_words().index(label) for label in labels]
    for metric_name in task.metrics:
        metric = build_metric(metric_name, **GLUE_METRIC_OPTIONS[metric_name])
        metric.update(gold, gold)
        assert float(metric.compute()) == pytest.approx(1.0)


def test_cola_has_no_header_and_mrpc_pattern(tmp_path):
    (tmp_path / "dev.tsv").write_text(GLUE_FIXTURES["cola"])
    data, _ = get_task("cola").load_split("validation", tmp_path)
    assert data["label"] == ["1", "0"] and data[1]["sentence"] == "They drank the pub."
    assert get_task("cola").patterns[0].render(data[1]).text == '"They drank the pub." This is[MASK].'
    (tmp_path / "dev.tsv").write_text(GLUE_FIXTURES["mrpc"])
    mrpc, _ = get_task("mrpc").load_split("validation", tmp_path)
    assert get_task("mrpc").patterns[1].render(mrpc[1]).text.endswith(
        " Does it mean that yucaipa bought Dominick 's in 1995 for $ 693 million and sold it to Safeway for $ 1.8 billion in 1998 ?[MASK]"  # GLM strips only the final "."
    )


def test_glue_rte_renders_like_superglue_rte(bert):
    from glm_tune.task.registry import get_task

    superglue, glue = get_task("rte"), get_task("glue-rte")
    premise, hypothesis = "The cat sat on the mat.", "A cat is sitting."
    for pattern_id in range(5):
        a = superglue.patterns[pattern_id].encode({"premise": premise, "hypothesis": hypothesis}, bert, 64)
        b = glue.patterns[pattern_id].encode({"sentence1": premise, "sentence2": hypothesis}, bert, 64)
        assert a.input_ids == b.input_ids and a.mask_position == b.mask_position


def wsc_row(text, span1, index1, span2, index2, label=True, **extra):
    return {"text": text, "label": label, "idx": 0, **extra,
            "target": {"span1_text": span1, "span1_index": index1, "span2_text": span2, "span2_index": index2}}


def test_wsc_accepts_glm_candidate_objects():
    # GLM's WSC-negative files give candidates as {"text": ...} objects.
    task = get_task("wsc")
    row = wsc_row("Mark told Pete many lies about himself. He should have been more skeptical.", "Pete", 2, "He", 7,
                  candidates=[{"text": "Mark"}, {"text": "lies"}, {"text": "Mark"}, "Pete"])
    expanded = task.expand([row], "validation", random.Random(0))
    assert expanded[0]["candidates"] == ["Pete", "Mark", "lies"]


def test_wsc_span_indices_are_repaired_as_glm_does(shared):
    # FewGLUE train idx 137 has the pronoun glued to punctuation: `him,"` at span2_index.
    task = get_task("wsc")
    train, _ = task.load_split("train", fewglue(shared, "WSC"))
    row = next(r for r in train if r["idx"] == 137)
    words = row["text"].split()
    assert words[row["target"]["span2_index"]] == row["target"]["span2_text"] == "him"
    assert "*him*" in task.patterns[2].render(row).text
    # One word off (either way) is moved back onto the span.
    text = "The trophy does not fit into the suitcase because it is too small ."
    fixed = task.expand([wsc_row(text, "the suitcase", 7, "it", 10)], "validation", random.Random(0))[0]["target"]
    assert (fixed["span1_index"], fixed["span2_index"]) == (6, 9)
    with pytest.raises(DataError, match="span2_text 'they' is not at span2_index 3"):
        task.expand([wsc_row(text, "the suitcase", 6, "they", 3)], "validation", random.Random(0))


def test_wsc_training_rows_with_many_negatives_are_chunked_by_nine():
    task = get_task("wsc")
    negatives = [f"thing{i}" for i in range(20)]
    row = wsc_row("Mark told Pete many lies about himself. He should have been more skeptical.", "Pete", 2, "He", 7,
                  candidates=negatives)
    chunks = task.expand([row], "train", random.Random(0))
    assert [c["candidates"][1:] for c in chunks] == [negatives[:9], negatives[9:18], negatives[18:] + negatives[:7]]
    assert all(c["candidates"][0] == "Pete" for c in chunks)
    assert len(task.expand([row], "validation", random.Random(0))[0]["candidates"]) == 21


def test_wsc_generative_is_glms_generative_evaluation(shared):
    task = get_task("wsc_generative")
    assert task.kind == "generation"
    train, _ = task.load_split("train", fewglue(shared, "WSC"))
    row = train[0]
    assert task.target(row) == " Tina"
    rows = [wsc_row("Mark told Pete many lies about himself. He should have been more skeptical.", "Pete", 2, "He", 7),
            wsc_row("Mark told Pete many lies about himself. He should have been more skeptical.", "Mark", 0, "He", 7,
                    label=False)]
    assert len(task.expand([dict(r) for r in rows], "train", random.Random(0))) == 1
    evaluation = task.expand([dict(r) for r in rows], "validation", random.Random(0))
    metric = task.build_metrics()
    # Row 1 (True): span1 generated, right. Row 2 (False): span1 "Mark" generated, wrong.
    metric.update(["Pete", "Mark"], [task.gold_texts(r) for r in evaluation])
    assert float(metric.compute()["span_match_accuracy"]) == 0.5
    metric.reset()
    metric.update([" Pete", "Pete"], [task.gold_texts(r) for r in evaluation])
    assert float(metric.compute()["span_match_accuracy"]) == 1.0
