"""GLUE tasks as cloze questions."""

from __future__ import annotations

from functools import partial
from typing import Any

from glm_tune.tasks.superglue import entailment_pattern

from glm_tune.cloze.template import MASK, Patterns, Template, Text, lowercase_first, remove_final_punc
from glm_tune.cloze.verbalizer import Verbalizer
from glm_tune.task.definition import Task

_GLUE_FILES = {"train": "train.tsv", "validation": "dev.tsv"}


def _glue_task(name: str, words: str | None = None, **kwargs: Any) -> Task:
    """An English GLUE classification task reading train.tsv / dev.tsv.

    Label words come from ``verbalizers/<words or name>.json``.
    """
    defaults: dict[str, Any] = dict(
        kind="classification",
        language="en",
        verbalizer=partial(Verbalizer.from_file, words or name),
        files=_GLUE_FILES,
        file_format="tsv",
    )
    defaults.update(kwargs)
    return Task(name=name, **defaults)


# GLM's Sst2PVP: one template, two sets of label words (pattern 0 great/terrible, 1 good/bad).
_SST2_TEMPLATE = Template("{sentence} It was [MASK].", shrink=["sentence"])

SST2 = _glue_task(
    "sst2",
    patterns=Patterns({0: _SST2_TEMPLATE, 1: _SST2_TEMPLATE}),
    fields=("sentence",),
    metrics=("accuracy",),
    max_length=128,
    hub_dataset=("nyu-mll/glue", "sst2"),
    sample="sst2",
    description="GLUE SST-2 sentiment; GLUE's train.tsv / dev.tsv (sentence, label 0/1)",
)


# --------------------------------------------------------------------------------------------
# RTE, MRPC, QNLI, CoLA: GLM's RtePVP, MrpcPVP, QnliPVP and ColaPVP (tasks/superglue/pvp.py)
# --------------------------------------------------------------------------------------------

def _entailment_names(rows, split, rng):
    """The hub's glue/rte and glue/qnli labels are class indices (0 entailment, 1 not_entailment);
    GLUE's TSV files spell them out. Either way the rows carry the names."""
    names = {"0": "entailment", "1": "not_entailment"}
    return [dict(r, label=names.get(str(r["label"]), str(r["label"]))) for r in rows]


GLUE_RTE = _glue_task(
    "glue-rte",
    words="rte",
    patterns=Patterns({i: entailment_pattern(i, "True or False?", "sentence1", "sentence2") for i in range(5)}),
    fields=("sentence1", "sentence2"),
    metrics=("accuracy",),
    max_length=256,
    hub_dataset=("nyu-mll/glue", "rte"),
    expand=_entailment_names,
    description=(
        "GLUE RTE (the same data as SuperGLUE's 'rte', in GLUE's TSV: index, sentence1 premise, "
        "sentence2 hypothesis, label entailment/not_entailment); train.tsv / dev.tsv; GLM's RtePVP"
    ),
)


def _mrpc_pattern(pattern_id: int):
    def pattern(row):
        a, b = row["#1 String"], lowercase_first(row["#2 String"])
        if pattern_id == 0:
            return [Text(a, "#1 String")], [MASK, ", ", Text(b, "#2 String")]
        return [Text(a, "#1 String")], [" Does it mean that", Text(" " + remove_final_punc(b), "#2 String"), "?", MASK]

    pattern.__qualname__ = f"mrpc_pattern_{pattern_id}"
    return Template(pattern)


MRPC = _glue_task(
    "mrpc",
    patterns=Patterns({i: _mrpc_pattern(i) for i in range(2)}),
    fields=("#1 String", "#2 String"),
    label_field="Quality",
    metrics=("f1a", "accuracy"),
    max_length=256,
    description=(
        "GLUE MRPC paraphrase; GLUE's train.tsv / dev.tsv (header Quality, #1 ID, #2 ID, #1 String, "
        "#2 String; Quality 1 = paraphrase, the F1 class); GLM's MrpcPVP"
    ),
)


def _qnli_pattern(pattern_id: int):
    def pattern(row):
        question = Text(" " + remove_final_punc(row["question"]), "question")
        passage = row["sentence"]
        if pattern_id == 0:
            return [Text(passage, "sentence"), " Question:", question, "? Do you know the answer?", MASK, "."]
        if pattern_id == 1:
            return [Text(passage, "sentence"), " Based on the previous passage, do you know the answer", question,
                    "?", MASK, "."]
        return ["Based on the following passage, do you know the answer", question, "?", MASK, ".",
                Text(" " + passage, "sentence")]

    pattern.__qualname__ = f"qnli_pattern_{pattern_id}"
    return Template(pattern)


QNLI = _glue_task(
    "qnli",
    patterns=Patterns({i: _qnli_pattern(i) for i in range(3)}),
    fields=("question", "sentence"),
    metrics=("accuracy",),
    max_length=256,
    hub_dataset=("nyu-mll/glue", "qnli"),
    expand=_entailment_names,
    description=(
        "GLUE QNLI (does the sentence answer the question?); GLUE's train.tsv / dev.tsv with header "
        "index, question, sentence, label entailment/not_entailment; GLM's QnliPVP"
    ),
)


COLA = _glue_task(
    "cola",
    patterns=Patterns({0: Template(['"', "{sentence}", '"', " This is", MASK, "."])}),
    file_format="cola_tsv",
    fields=("sentence",),
    metrics=("mcc", "accuracy"),
    max_length=128,
    hub_dataset=("nyu-mll/glue", "cola"),
    description=(
        "GLUE CoLA acceptability; GLUE's train.tsv / dev.tsv without a header (source, label 0/1, "
        "author's label, sentence); GLM's ColaPVP ' correct'/' incorrect'; Matthews correlation"
    ),
)
