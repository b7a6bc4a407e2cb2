"""SuperGLUE tasks as cloze questions, with GLM's PVPs (GLM-NOTES part 2, sections 1-3 and 5).

Files: the official SuperGLUE v2 release, ``train.jsonl`` / ``val.jsonl`` (split ``validation``).
FewGLUE (``--data-dir .../fewglue/CB``) ships only ``train.jsonl`` (32 labeled rows) and
``unlabeled.jsonl``; its ``train`` split is read from ``train.jsonl`` like SuperGLUE's. GLM's
few-shot setting (``--few-superglue``) reads ``dev32.jsonl`` as dev and ``val.jsonl`` as test: every
task here therefore also has a ``dev32`` split (``dev32.jsonl``), and the official ``val.jsonl`` is
the ``validation`` split (the test set of the few-shot setting). ``test.jsonl`` is the unlabeled ``test`` split, for
predictions to submit (``glm-tune predict --format superglue``).

Labels are strings: JSON booleans become ``"True"``/``"False"``, MultiRC's 0/1 ``"0"``/``"1"``.
Hub rows (``aps/super_glue``) carry class indices and a flat layout; each task's ``expand``
turns them into the same rows as the files (label names, MultiRC/ReCoRD/WSC fields).

MultiRC files are nested (one passage per line, labels inside): the task sets ``raw_fields``, so
fields and labels are checked on the expanded rows, each still naming its file line.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from glm_tune.cloze.generation import GenerationConfig
from glm_tune.cloze.template import MASK, Patterns, Template, Text, lowercase_first, remove_final_punc
from glm_tune.cloze.verbalizer import Verbalizer
from glm_tune.task.definition import Task
from glm_tune.task.readers import DataError, Row

SUPERGLUE_FILES = {"train": "train.jsonl", "validation": "val.jsonl", "dev32": "dev32.jsonl", "test": "test.jsonl",
                   "unlabeled": "unlabeled.jsonl"}  # FewGLUE's unlabelled rows (PET's distillation)
_FILES_NOTE = (
    "files train.jsonl / val.jsonl (validation) / dev32.jsonl (dev32); FewGLUE: train.jsonl is train, "
    "GLM's few-shot setting uses dev32.jsonl as dev and val.jsonl as test"
)


def _superglue_task(name: str, kind: str, **kwargs: Any) -> Task:
    """A SuperGLUE task: English, the SuperGLUE files, label words in verbalizers/NAME.json."""
    defaults: dict[str, Any] = dict(
        language="en",
        files=SUPERGLUE_FILES,
        file_format="jsonl",
        hub_dataset=("aps/super_glue", name),
        unlabelled_splits=("test", "unlabeled"),
    )
    if kind == "classification":
        defaults["verbalizer"] = partial(Verbalizer.from_file, name)
    defaults.update(kwargs)
    return Task(name=name, kind=kind, **defaults)


def _hub_label_names(names: tuple[str, ...]):
    """``expand`` that maps hub class indices ("0", "1", ...) to the file's label strings."""

    def expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
        for row in rows:
            label = str(row.get("label"))
            if label.isdigit() and int(label) < len(names) and label not in names:
                row["label"] = names[int(label)]
        return rows

    return expand


# --------------------------------------------------------------------------------------------
# RTE and CB (GLM's RtePVP / CbPVP)
# --------------------------------------------------------------------------------------------


def entailment_pattern(pattern_id: int, choices: str, premise: str = "premise", hypothesis: str = "hypothesis"):
    """GLM's RtePVP/CbPVP patterns over the named premise and hypothesis fields."""

    def pattern(row):
        p, h_full = row[premise], row[hypothesis]
        h = remove_final_punc(h_full)
        if pattern_id == 0:
            return ['"', Text(h, hypothesis), '" ?'], [MASK, ', "', Text(p, premise), '"']
        if pattern_id == 1:
            return [Text(h, hypothesis), "?"], [MASK, ",", Text(" " + p, premise)]
        if pattern_id == 2:
            return ['"', Text(h, hypothesis), '" ?'], [MASK, '. "', Text(p, premise), '"']
        if pattern_id == 3:
            return [Text(h, hypothesis), "?"], [MASK, ".", Text(" " + p, premise)]
        # pattern 4 keeps the hypothesis' final punctuation
        return [Text(p, premise), " question:", Text(" " + h_full, hypothesis), f" {choices}", " answer:", MASK]

    pattern.__qualname__ = f"entailment_pattern_{pattern_id}"
    return Template(pattern)


RTE = _superglue_task(
    "rte",
    "classification",
    patterns=Patterns({i: entailment_pattern(i, "True or False?") for i in range(5)}),
    fields=("premise", "hypothesis"),
    metrics=("accuracy",),
    expand=_hub_label_names(("entailment", "not_entailment")),
    default_pattern_id=0,
    max_length=256,
    description=f"SuperGLUE RTE (premise, hypothesis, label entailment/not_entailment); {_FILES_NOTE}",
)

CB = _superglue_task(
    "cb",
    "classification",
    patterns=Patterns({i: entailment_pattern(i, "true, false or neither?") for i in range(5)}),
    fields=("premise", "hypothesis"),
    metrics=("accuracy", "f1_macro"),
    expand=_hub_label_names(("entailment", "contradiction", "neutral")),
    default_pattern_id=3,
    max_length=256,
    description=f"SuperGLUE CB (premise, hypothesis, label entailment/contradiction/neutral); {_FILES_NOTE}",
)

# --------------------------------------------------------------------------------------------
# BoolQ (GLM's BoolQPVP)
# --------------------------------------------------------------------------------------------


def _boolq_pattern(pattern_id: int):
    def pattern(row):
        passage, question = Text(row["passage"], "passage"), Text(" " + row["question"], "question")
        if pattern_id < 2:
            return [passage, " Question:", question, "? Answer:", MASK, "."]
        if pattern_id < 4:
            return [passage, " Based on the previous passage,", question, "?", MASK, "."]
        return ["Based on the following passage", question, "?", MASK, ".", Text(" " + row["passage"], "passage")]

    pattern.__qualname__ = f"boolq_pattern_{pattern_id}"
    return Template(pattern)


BOOLQ = _superglue_task(
    "boolq",
    "classification",
    patterns=Patterns({i: _boolq_pattern(i) for i in range(6)}),
    fields=("passage", "question"),
    metrics=("accuracy",),
    expand=_hub_label_names(("False", "True")),
    default_pattern_id=4,
    max_length=256,
    description=f"SuperGLUE BoolQ (passage, question, label true/false as \"True\"/\"False\"); {_FILES_NOTE}",
)

# --------------------------------------------------------------------------------------------
# WiC (GLM's WicPVP)
# --------------------------------------------------------------------------------------------


def _wic_pattern(pattern_id: int):
    def pattern(row):
        s1, s2, word = row["sentence1"], row["sentence2"], row["word"]
        if pattern_id == 0:
            return [Text('"' + s1 + '" / "' + s2 + '"', "sentence1"), ' Similar sense of "' + word + '"?', MASK, "."]
        if pattern_id == 1:
            return [Text(s1, "sentence1"), Text(" " + s2, "sentence2"),
                    " Does " + word + " have the same meaning in both sentences?", MASK]
        return [word, " .", ' Sense (1) (a) "', Text(s1, "sentence1"), '"', " (", MASK, ') "', s2, '"']

    pattern.__qualname__ = f"wic_pattern_{pattern_id}"
    return Template(pattern)


WIC = _superglue_task(
    "wic",
    "classification",
    patterns=Patterns({i: _wic_pattern(i) for i in range(3)}),
    fields=("word", "sentence1", "sentence2"),
    metrics=("accuracy",),
    expand=_hub_label_names(("False", "True")),
    default_pattern_id=1,
    max_length=256,
    description=f"SuperGLUE WiC (word, sentence1, sentence2, label \"True\"/\"False\"); {_FILES_NOTE}",
)

# --------------------------------------------------------------------------------------------
# COPA (GLM's CopaPVP): multiple choice over the two choices, mirrored copies in training
# --------------------------------------------------------------------------------------------


def copa_choice(text: str) -> str:
    """A COPA choice as GLM writes it into the blank: lowercased first letter, no final punctuation."""
    return remove_final_punc(lowercase_first(text))


def _copa_pattern(pattern_id: int):
    def pattern(row):
        premise = Text(remove_final_punc(" " + row["premise"]), "premise")
        c1, c2 = copa_choice(row["choice1"]), copa_choice(row["choice2"])
        if row["question"] not in ("cause", "effect"):
            raise ValueError(f"COPA question must be 'cause' or 'effect', got {row['question']!r}")
        joiner = " because" if row["question"] == "cause" else ", so"
        if pattern_id == 0:
            return ['"', c1, '" or "', c2, '"?', premise, joiner, MASK, "."]
        return [c1, " or", " " + c2, "?", premise, joiner, MASK, "."]

    pattern.__qualname__ = f"copa_pattern_{pattern_id}"
    return Template(pattern)


def _copa_expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """Training: each row plus its mirror (choices swapped, label flipped), as GLM does."""
    for row in rows:
        row["label"] = int(row["label"]) if row.get("label") not in (None, "", -1) else -1
        row["mirrored"] = False
    if split != "train":
        return rows
    out = []
    for row in rows:
        out.append(row)
        mirror = dict(row, choice1=row["choice2"], choice2=row["choice1"], mirrored=True)
        if row["label"] in (0, 1):
            mirror["label"] = 1 - row["label"]
        out.append(mirror)
    return out


COPA = _superglue_task(
    "copa",
    "multiple_choice",
    patterns=Patterns({i: _copa_pattern(i) for i in range(2)}),
    fields=("premise", "choice1", "choice2", "question"),
    metrics=("accuracy",),
    candidates=lambda row: [" " + copa_choice(row["choice1"]), " " + copa_choice(row["choice2"])],
    answer=lambda row: int(row["label"]),
    expand=_copa_expand,
    default_pattern_id=0,
    max_length=256,
    description=(
        "SuperGLUE COPA: choose the cause/effect among choice1/choice2 (label 0/1); candidates are "
        "the choices with a leading space, first letter lowercased, final punctuation removed; "
        f"training adds a mirrored copy of every row (choices swapped); {_FILES_NOTE}"
    ),
)

# --------------------------------------------------------------------------------------------
# WSC (GLM's WscPVP): span1 against negative candidates
# --------------------------------------------------------------------------------------------


def _wsc_fields(row: Row) -> Row:
    """Hub rows have flat span fields; file rows nest them under ``target``. Span indices are
    repaired as GLM's reader does (:func:`repair_wsc_spans`)."""
    if "target" not in row:
        row["target"] = {k: row[k] for k in ("span1_text", "span2_text", "span1_index", "span2_index") if k in row}
    return repair_wsc_spans(row)


def repair_wsc_spans(row: Row) -> Row:
    """Point ``span1_index``/``span2_index`` at their words, as GLM's ``WscProcessor`` does.

    Some rows (FewGLUE's train idx 137: ``him,"`` for the pronoun ``him``) are off by one word or
    have the pronoun glued to punctuation. A span that is one word off is moved; a pronoun that
    only starts its word splits the word in two (the text changes accordingly). A pronoun still
    not found is a bad row.
    """
    target = dict(row["target"])
    words = row["text"].split()
    lower = row["text"].lower().split()
    span1, index1 = target["span1_text"].lower().split(), int(target["span1_index"])
    if lower[index1:index1 + len(span1)] != span1:
        for offset in (-1, 1):
            if lower[max(index1 + offset, 0):index1 + len(span1) + offset] == span1:
                index1 += offset
                break
    pronoun, index2 = target["span2_text"], int(target["span2_index"])
    if not (0 <= index2 < len(words)) or words[index2] != pronoun:
        for offset in (-1, 1):
            if 0 <= index2 + offset < len(words) and words[index2 + offset] == pronoun:
                index2 += offset
                break
        if 0 <= index2 < len(words) and words[index2] != pronoun and words[index2].startswith(pronoun):
            words[index2:index2 + 1] = [pronoun, words[index2][len(pronoun):]]
            row["text"] = " ".join(words)
        if not (0 <= index2 < len(words)) or words[index2] != pronoun:
            raise DataError(
                f"WSC row {row.get('idx', '?')}: span2_text {pronoun!r} is not at span2_index "
                f"{target['span2_index']} (nor one word off) in {row['text']!r}"
            )
    target["span1_index"], target["span2_index"] = index1, index2
    row["target"] = target
    return row


def _candidate_texts(candidates: list[Any]) -> list[str]:
    """A row's own candidates: strings, or GLM's WSC-negative objects ``{"text": ...}``."""
    texts = []
    for candidate in candidates:
        if isinstance(candidate, dict):
            if not isinstance(candidate.get("text"), str):
                raise DataError(f"WSC candidate {candidate!r} has no 'text' string")
            candidate = candidate["text"]
        texts.append(candidate)
    return texts


def _wsc_pattern(pattern_id: int):
    def pattern(row):
        target = row["target"]
        pronoun, index = target["span2_text"], int(target["span2_index"])
        words = row["text"].split()
        words[index] = "*" + words[index] + "*"
        text = Text(" ".join(words), "text")
        if pattern_id == 0:
            return [text, " The pronoun '*" + pronoun + "*' refers to", MASK, "."]
        if pattern_id == 1:
            return [text, " In the previous sentence, the pronoun '*" + pronoun + "*' refers to", MASK, "."]
        return [text, " Question: In the passage above, what does the pronoun '*" + pronoun + "*' refer to?",
                " Answer:", MASK, "."]

    pattern.__qualname__ = f"wsc_pattern_{pattern_id}"
    return Template(pattern)


WSC_CHUNK = 9
"""Most negatives per WSC training row (GLM's ``WscProcessor``)."""


def _wsc_expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """Give every row ``candidates``: span1 first, then negatives.

    GLM reads negative noun phrases from a preprocessed ``WSC-negative/*.jsonl`` that is not in
    the official data. Here a row's own ``candidates`` list (such a file's field: strings or
    ``{"text": ...}`` objects) is used when present; otherwise the negatives are the span1 texts of the other rows about the same pronoun
    in the same text (official WSC asks about several referents per sentence, the wrong ones
    labelled False). FewGLUE's 32 training rows are all True and unique, so they get none: the
    row has the single candidate span1, which only a generative loss (GLM's ``mix``) learns from.
    Training keeps only True rows, as GLM does, and a training row with more than 9 negatives
    becomes several rows of 9.
    """
    rows = [_wsc_fields(row) for row in rows]
    groups: dict[tuple[str, int], list[str]] = {}
    for row in rows:
        key = (row["text"], int(row["target"]["span2_index"]))
        groups.setdefault(key, []).append(row["target"]["span1_text"])
    out = []
    for row in rows:
        label = str(row.get("label"))
        if label in ("0", "1"):  # hub class index
            label = "True" if label == "1" else "False"
        row["label"] = label
        if split == "train" and label != "True":
            continue
        span1 = row["target"]["span1_text"]
        own = _candidate_texts(list(row.get("candidates") or []))
        same = groups[(row["text"], int(row["target"]["span2_index"]))]
        negatives: list[str] = []
        for text in own + same:
            if text.lower() != span1.lower() and text.lower() not in (n.lower() for n in negatives):
                negatives.append(text)
        if split == "train" and len(negatives) > WSC_CHUNK:
            # GLM splits a long negative list into training rows of 9 negatives each, the last
            # one topped up from the start of the list.
            for start in range(0, len(negatives), WSC_CHUNK):
                chunk = negatives[start:start + WSC_CHUNK]
                chunk += negatives[:WSC_CHUNK - len(chunk)]
                out.append({**row, "candidates": [span1, *chunk]})
            continue
        row["candidates"] = [span1, *negatives]
        out.append(row)
    return out


def _wsc_answer(row: Row) -> list[int]:
    """Gold candidate indices: GLM predicts True iff the argmax is span1 (index 0).

    A True row's gold is ``[0]``; a False row's golds are every other candidate (empty when it
    has no negatives: no prediction can then be right, as GLM always says True there).
    """
    if str(row["label"]) == "True":
        return [0]
    return list(range(1, len(row["candidates"])))


WSC = _superglue_task(
    "wsc",
    "multiple_choice",
    patterns=Patterns({i: _wsc_pattern(i) for i in range(3)}),
    fields=("text", "target"),
    metrics=("accuracy",),
    candidates=lambda row: [" " + c for c in row["candidates"]],
    answer=_wsc_answer,
    expand=_wsc_expand,
    default_pattern_id=2,
    max_length=128,
    hub_dataset=("aps/super_glue", "wsc.fixed"),
    description=(
        "SuperGLUE WSC: does the *pronoun* (span2) refer to span1? Scored as multiple choice over "
        "span1 and negative candidates (a row's 'candidates' field, else other rows' span1 for the "
        "same pronoun); prediction True iff span1 scores best; training keeps True rows only. "
        f"GLM trains it with the mix loss and length penalty 1; {_FILES_NOTE}"
    ),
    loss="mix",
    length_penalty=1.0,
)


def _wsc_generative_expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """Repaired spans; training keeps the True rows (their span1 is the target), as GLM does."""
    out = []
    for row in (_wsc_fields(row) for row in rows):
        label = str(row.get("label"))
        if label in ("0", "1"):  # hub class index
            label = "True" if label == "1" else "False"
        row["label"] = label
        if split != "train" or label == "True":
            out.append(row)
    return out


WSC_GENERATIVE = _superglue_task(
    "wsc_generative",
    "generation",
    patterns=Patterns({i: _wsc_pattern(i) for i in range(3)}),
    fields=("text", "target"),
    metrics=("span_match_accuracy",),
    target=lambda row: " " + row["target"]["span1_text"],
    references=lambda row: [str(row["label"]), row["target"]["span1_text"]],
    expand=_wsc_generative_expand,
    generation=GenerationConfig(max_new_tokens=16),
    default_pattern_id=2,
    max_length=128,
    hub_dataset=("aps/super_glue", "wsc.fixed"),
    description=(
        "SuperGLUE WSC as GLM's generative variant (config_tasks/task_wsc_generative.sh): trained to "
        "generate span1 for the *pronoun* (True rows), evaluated True iff the greedy span is span1 "
        "(span_match_accuracy against the label); "
        f"same patterns as wsc; {_FILES_NOTE}"
    ),
)

# --------------------------------------------------------------------------------------------
# MultiRC (GLM's MultiRcPVP): one binary row per (question, answer)
# --------------------------------------------------------------------------------------------


def _multirc_pattern(pattern_id: int):
    def pattern(row):
        passage = Text(remove_final_punc(row["passage"].rstrip()), "passage")
        question = remove_final_punc(row["question"].rstrip())
        answer = row["answer"]
        if pattern_id == 0:
            return [passage, ".", " Question:", " " + question + "?", " Is it", " " + answer, "?", MASK, "."]
        if pattern_id == 1:
            return [passage, ".", " Question:", " " + question, "?", ' Is the correct answer "', answer, '"?', MASK, "."]
        if pattern_id == 2:
            return [passage, ". Based on the previous passage,", " " + question, "?", ' Is "', answer,
                    '" a correct answer?', MASK, "."]
        if pattern_id == 3:
            return [passage, " " + question, "- [", MASK, "]", answer]
        return [passage, ".", " Question:", " " + question, "?", " " + answer, "?", MASK, "."]

    pattern.__qualname__ = f"multirc_pattern_{pattern_id}"
    return Template(pattern)


def _multirc_expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """One row per (question, answer option): passage, question, answer, label, question_id."""
    out = []
    for row in rows:
        source = row.get("_source", "")
        if "paragraph" in row and "answer" in row:  # hub layout: already one row per answer
            idx = row["idx"]
            out.append({
                "passage": row["paragraph"], "question": row["question"], "answer": row["answer"],
                "label": str(row["label"]), "question_id": f"p{idx['paragraph']}-q{idx['question']}",
                "passage_idx": idx["paragraph"], "question_idx": idx["question"], "answer_idx": idx["answer"],
                "_source": source,
            })
            continue
        passage = row["passage"]
        for q_number, question in enumerate(passage["questions"]):
            qid = f"p{row.get('idx')}-q{question.get('idx', q_number)}"
            for a_number, answer in enumerate(question["answers"]):
                label = answer.get("label")
                out.append({
                    "passage": passage["text"], "question": question["question"], "answer": answer["text"],
                    "label": "" if label is None else str(label), "question_id": qid,
                    "passage_idx": row.get("idx"), "question_idx": question.get("idx", q_number),
                    "answer_idx": answer.get("idx", a_number), "_source": source,
                })
    return out


MULTIRC = _superglue_task(
    "multirc",
    "classification",
    patterns=Patterns({i: _multirc_pattern(i) for i in range(5)}),
    fields=("passage", "question", "answer"),
    metrics=("f1a", "multirc_em"),
    expand=_multirc_expand,
    group_field="question_id",
    default_pattern_id=0,
    max_length=512,
    description=(
        "SuperGLUE MultiRC: one yes/no row per (question, answer option), label \"0\"/\"1\", grouped by "
        f"question_id for per-question EM; F1a over all options; {_FILES_NOTE}"
    ),
    raw_fields=("passage",),
)

# --------------------------------------------------------------------------------------------
# ReCoRD (GLM's RecordPVP): multiple choice over the passage entities
# --------------------------------------------------------------------------------------------

RECORD_TRAIN_CANDIDATES = 10
"""GLM/PET: the gold answer plus 9 sampled negative entities per training row."""


def _record_pattern(row):
    query_a, query_b = row["query"].split("@placeholder", 1)
    return [Text(row["passage"], "passage"), " " + query_a.rstrip(), MASK, query_b]


def _record_pattern1(row):
    # glm-tune's second pattern (GLM and PET have one), so that few-shot ensembles have two.
    query_a, query_b = row["query"].split("@placeholder", 1)
    return [Text(row["passage"], "passage"), " Question: fill in the blank. " + query_a.rstrip(), MASK, query_b]


def _unique(texts) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        seen.setdefault(text, None)
    return list(seen)


def _record_expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """One row per query (evaluation: every entity a candidate) or per gold answer (training).

    Entities are the passage's character spans (``end`` inclusive), de-duplicated in order of
    first appearance; ``@highlight\\n`` becomes ``- `` as in GLM's RecordProcessor. Training rows
    hold the answer first, then up to 9 negatives sampled with ``rng``; evaluation rows hold all
    entities, and ``answers`` keeps the gold strings for EM/F1 (max over golds).
    """
    out = []
    for row in rows:
        source = row.get("_source", "")
        if "qas" in row:
            raw = row["passage"]["text"]
            entities = _unique(raw[e["start"] : e["end"] + 1] for e in row["passage"]["entities"])
            queries = [(qa["query"], _unique(a["text"] for a in qa.get("answers", [])), qa.get("idx")) for qa in row["qas"]]
            passage = raw.replace("@highlight\n", "- ")
        else:  # hub layout: one query per row, entities and answers as strings
            entities = _unique(row["entities"])
            queries = [(row["query"], _unique(row.get("answers", [])), row.get("idx", {}).get("query"))]
            passage = row["passage"].replace("@highlight\n", "- ")
        for query, answers, query_idx in queries:
            base = {"passage": passage, "query": query, "passage_idx": row.get("idx"), "query_idx": query_idx,
                    "_source": source}
            if split == "train":
                negatives = [e for e in entities if e not in answers]
                for answer in answers:
                    sampled = list(negatives)
                    if len(sampled) > RECORD_TRAIN_CANDIDATES - 1:
                        rng.shuffle(sampled)
                        sampled = sampled[: RECORD_TRAIN_CANDIDATES - 1]
                    out.append(dict(base, entities=[answer, *sampled], answers=[answer]))
            else:
                out.append(dict(base, entities=list(entities), answers=list(answers)))
    return out


RECORD = _superglue_task(
    "record",
    "multiple_choice",
    patterns=Patterns({0: Template(_record_pattern), 1: Template(_record_pattern1)}),
    fields=("passage", "qas"),
    metrics=("em", "f1"),
    candidates=lambda row: [" " + e for e in row["entities"]],
    answer=lambda row: [i for i, e in enumerate(row["entities"]) if e in row["answers"]],
    expand=_record_expand,
    default_pattern_id=0,
    max_length=512,
    description=(
        "SuperGLUE ReCoRD: fill @placeholder with a passage entity. Training: one row per gold answer "
        "with 9 sampled negative entities; evaluation: one row per query with every entity; EM/F1 are "
        f"the max over the gold answers ('answers'); {_FILES_NOTE}"
    ),
)


__all__: list[Any] = ["RTE", "CB", "BOOLQ", "WIC", "COPA", "WSC", "WSC_GENERATIVE", "MULTIRC", "RECORD", "copa_choice",
                      "repair_wsc_spans"]
