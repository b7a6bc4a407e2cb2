"""GLUE tasks as cloze questions."""

from __future__ import annotations

from glm_tune.task import Task, register_task
from glm_tune.template import Patterns, Template
from glm_tune.verbalizer import Verbalizer

# GLM's Sst2PVP: one template, two sets of label words (pattern 0 great/terrible, 1 good/bad).
_SST2_TEMPLATE = Template("{sentence} It was [MASK].", shrink=["sentence"])

SST2 = register_task(Task(
    name="sst2",
    kind="classification",
    language="en",
    patterns=Patterns({0: _SST2_TEMPLATE, 1: _SST2_TEMPLATE}),
    verbalizer=lambda pattern_id: Verbalizer.from_file("sst2", pattern_id=pattern_id),
    files={"train": "train.tsv", "validation": "dev.tsv"},
    file_format="tsv",
    fields=("sentence",),
    metrics=("accuracy",),
    max_length=128,
    hub_dataset=("nyu-mll/glue", "sst2"),
    description="GLUE SST-2 sentiment; GLUE's train.tsv / dev.tsv (sentence, label 0/1)",
))
