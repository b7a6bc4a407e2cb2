"""Sequence-to-sequence tasks (GLM's ``tasks/seq2seq``) as blank filling: kind ``generation``.

Inputs follow GLM (GLM-NOTES part 2 section 4, ``tasks/seq2seq/dataset.py``):

- summarization: ``[CLS] [MASK] Content: {source}``; pattern 1 writes ``[sMASK]`` for models
  finetuned with ``--task-mask`` (glm-10b, glm-large-chinese). LCSTS (Chinese) defaults to
  ``[sMASK]`` as glm-large-chinese uses task masks, with ``内容：`` for ``Content:``.
- squad_qg: ``[CLS] {context} Question: [MASK] Answer: {answer}`` (GLM's squad_generation),
  one row per distinct gold answer of a question.
- cmrc2018: ``[CLS] {context} 问题：{question} 答案：[sMASK]`` (glm-tune's own input: GLM lists
  cmrc among its seq2seq tasks but its released code builds no CMRC input).

GLM's template ends the source right after the text; glm-tune's :meth:`Template.encode` also
appends ``<eos>`` (``[CLS] A <eos>``), the same layout as its cloze tasks.

Files: ``{train,val,test}.source/.target`` line pairs (splits ``train``, ``validation``,
``test``) for cnn_dm, xsum and gigaword (reader ``source_target``); LCSTS as the CLUE generation
benchmark (CLGE) distributes it, ``{train,val,test}.tsv`` with ``summary<TAB>text`` lines and
no header (reader ``clge_tsv``); SQuAD-format JSON ``train.json``/``dev.json`` for squad_qg
(reader ``squad_json``) and CMRC 2018's own names, ``cmrc2018_train.json``,
``cmrc2018_dev.json`` and ``cmrc2018_trial.json`` (split ``trial``: 1,002 questions, usable as
a small training split with ``--train_split trial``). Every CMRC row of a split must have an
answer (a located bad row otherwise); unlabelled questions (CLUE's ``test.json``) go to
``predict --input``, which reads a generation task's input with the task's own reader when its
suffix matches the task's files. XSum's raw ``bbc-summary-data`` layout is not read: convert it
to ``.source/.target`` first.

Decoding defaults (``Task.generation``) are GLM's table: beams, length penalty, minimum length,
no-repeat n-gram size and target length (``max_new_tokens`` = GLM's ``tgt_seq_length``);
``max_length`` is GLM's ``src_seq_length``.

Metrics: ROUGE-1/2/L F (``rougeLsum`` for CNN/DM, whose references keep one sentence per line);
the first selects the best checkpoint. GLM's in-loop metric uses stemming: the task's
``metric_options`` says ``use_stemmer=True`` for the English tasks. Question generation
is scored with ROUGE-L (then ROUGE-1/2); BLEU-4, the usual QG number, is not among
glm-tune's metrics. CMRC 2018 uses EM and F1 with ``language="zh"`` against every gold answer
(``references`` gives a row's golds; ``target`` gives the one a model trains on).
"""

from __future__ import annotations

import random

from glm_tune.cloze.generation import GenerationConfig
from glm_tune.cloze.template import Patterns, Template
from glm_tune.task.definition import Task
from glm_tune.task.readers import Row

SENTENCE_SEPARATOR = "<S_SEP>"

_PTB = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_GIGAWORD = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}",
             "&amp;": "&", "&lt;": "<", "&gt;": ">"}


def cnndm_detokenize(text: str, is_target: bool = False) -> str:
    """GLM's ``cnndm_detokenize``: PTB brackets and quotes back to text; ``<S_SEP>`` becomes a
    line break in targets (a sentence break: ROUGE-Lsum splits on it) and goes in sources."""
    text = text.replace(SENTENCE_SEPARATOR, "\n" if is_target else "")
    for token, char in _PTB.items():
        text = text.replace(token, char)
    text = text.replace("''", '"').replace("``", '"').replace("`", "'")
    for suffix in ("n't", "'s", "'d", "'ll"):
        text = text.replace(" " + suffix, suffix)
    if is_target:
        text = "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
    return text


def gigaword_detokenize(text: str) -> str:
    """GLM's ``gigaword_detokenize`` bracket and entity mapping (``UNK`` is left as written)."""
    for token, char in _GIGAWORD.items():
        text = text.replace(token, char)
    return text


def _mapper(source, target):
    def expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
        # Prediction inputs may have no target.
        return [{**row, "source": source(row["source"]),
                 **({"target": target(row["target"])} if row.get("target") is not None else {})} for row in rows]

    return expand


_SUMMARY_FILES = {"train": "train.source", "validation": "val.source", "test": "test.source"}
_SUMMARY_PATTERNS = Patterns({
    0: Template("[MASK] Content: {source}"),
    1: Template("[sMASK] Content: {source}"),
})
_ENGLISH_ROUGE = ("rouge1", "rouge2", "rougeL")


def _summary(name: str, *, description: str, generation: GenerationConfig, max_length: int, **kwargs) -> Task:
    defaults = dict(
        kind="generation",
        language="en",
        patterns=_SUMMARY_PATTERNS,
        files=_SUMMARY_FILES,
        file_format="source_target",
        raw_fields=("source",),
        fields=("source", "target"),
        metrics=_ENGLISH_ROUGE,
        target=lambda row: row["target"],
        metric_options={"use_stemmer": True},
    )
    defaults.update(kwargs)
    return Task(name=name, generation=generation, max_length=max_length, description=description, **defaults)


def _beam(num_beams: int, max_new: int, min_new: int, length_penalty: float, no_repeat: int) -> GenerationConfig:
    return GenerationConfig(strategy="beam", num_beams=num_beams, max_new_tokens=max_new, min_new_tokens=min_new,
                            length_penalty=length_penalty, no_repeat_ngram_size=no_repeat)


CNN_DM = _summary(
    "cnn_dm",
    description="CNN/DailyMail summarization; {train,val,test}.source/.target, targets with <S_SEP> sentence breaks",
    generation=_beam(5, 160, 55, 0.7, 3),
    max_length=608,
    metrics=("rouge1", "rouge2", "rougeLsum"),
    expand=_mapper(cnndm_detokenize, lambda text: cnndm_detokenize(text, is_target=True)),
)

XSUM = _summary(
    "xsum",
    description="XSum one-sentence summarization; {train,val,test}.source/.target",
    generation=_beam(6, 60, 10, 1.0, 3),
    max_length=608,
)

GIGAWORD = _summary(
    "gigaword",
    description="Gigaword headline generation; {train,val,test}.source/.target (PTB-escaped)",
    generation=_beam(5, 32, 0, 0.6, 3),
    max_length=192,
    expand=_mapper(gigaword_detokenize, gigaword_detokenize),
)

# Not in GLM's table: short Chinese summaries (about 20 characters from about 100); gigaword-like
# settings, glm-tune's choice.
LCSTS = _summary(
    "lcsts",
    description="LCSTS Chinese short-text summarization; CLGE {train,val,test}.tsv (summary<TAB>text, no header)",
    generation=_beam(5, 32, 0, 1.0, 3),
    max_length=256,
    language="zh",
    files={"train": "train.tsv", "validation": "val.tsv", "test": "test.tsv"},
    file_format="clge_tsv",
    patterns=Patterns({0: Template("[sMASK] 内容：{source}"), 1: Template("[MASK] 内容：{source}")}),
    metric_options={"language": "zh"},
)

# --------------------------------------------------------------------------------------------
# SQuAD-format tasks
# --------------------------------------------------------------------------------------------

_SQUAD_FILES = {"train": "train.json", "validation": "dev.json", "test": "test.json"}


def _one_row_per_answer(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """GLM's SQuADProcessor: one example per distinct gold answer text (first-seen order)."""
    out = []
    for row in rows:
        for answer in dict.fromkeys(row["answers"]):
            out.append({**row, "answer": answer})
    return out


def _squad_qg_template(row: Row):
    from glm_tune.cloze.template import MASK, Text

    return [Text(row["context"].rstrip(), "context"), " Question:", MASK, " Answer: ", Text(row["answer"], "answer")]


SQUAD_QG = Task(
    name="squad_qg",
    kind="generation",
    language="en",
    patterns=Patterns({
        0: Template(_squad_qg_template, shrink=["context"]),
        1: Template("{context} Question: [sMASK] Answer: {answer}", shrink=["context"]),
    }),
    files=_SQUAD_FILES,
    file_format="squad_json",
    fields=("context", "question", "answers"),
    metrics=("rougeL", "rouge1", "rouge2"),
    target=lambda row: row["question"],
    expand=_one_row_per_answer,
    generation=_beam(5, 48, 0, 0.7, 0),
    max_length=464,
    metric_options={"use_stemmer": True},
    description="SQuAD question generation (context + answer -> question); SQuAD JSON train.json/dev.json",
)


def _cmrc_answer(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    return [{**row, "answer": row["answers"][0] if row.get("answers") else None} for row in rows]


CMRC2018 = Task(
    name="cmrc2018",
    kind="generation",
    language="zh",
    patterns=Patterns({
        0: Template("{context} 问题：{question} 答案：[sMASK]", shrink=["context"]),
        1: Template("{context} 问题：{question} 答案：[MASK]", shrink=["context"]),
    }),
    files={"train": "cmrc2018_train.json", "validation": "cmrc2018_dev.json", "trial": "cmrc2018_trial.json",
           "test": "cmrc2018_test.json"},
    file_format="squad_json",
    raw_fields=("context", "question"),
    fields=("context", "question", "answers"),
    metrics=("em", "f1"),
    target=lambda row: row["answer"],
    expand=_cmrc_answer,
    generation=_beam(5, 48, 0, 0.7, 0),
    max_length=464,
    metric_options={"language": "zh"},
    references=lambda row: list(row["answers"] or []),
    description="CMRC 2018 answer generation (Chinese); SQuAD JSON cmrc2018_{train,dev,trial}.json (EM/F1 zh)",
)
