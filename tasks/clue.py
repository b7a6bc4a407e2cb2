"""CLUE and FewCLUE tasks as cloze questions (Chinese).

Files: CLUE's ``{train,dev,test}.json`` and FewCLUE's splits, one JSON object per line, read
from ``--data-dir``. Split names:

- ``train`` -> ``train.json``, ``validation`` -> ``dev.json``, ``test`` -> ``test.json`` (CLUE's
  and FewCLUE's unlabeled test file: its rows load without labels, for predictions to submit
  with ``glm-tune predict --format clue``),
- ``test_public`` -> ``test_public.json`` (FewCLUE's labelled test set),
- ``train_0`` .. ``train_4`` / ``dev_0`` .. ``dev_4`` -> ``train_K.json`` / ``dev_K.json``
  (FewCLUE's five few-shot folds), ``train_few_all`` / ``dev_few_all`` (their union),
- ``unlabeled`` -> ``unlabeled.json`` (FewCLUE's unlabelled rows, for ``glm-tune fewshot --distill``).

Labels are strings as the verbalizer files spell them (TNEWS and IFLYTEK hold numeric codes in
the data; they are read as ``"102"``, ``"8"``). Label words live in ``verbalizers/<task>.json``.
GLM itself has cloze code only for AFQMC, TNEWS and CLUEWSC (GLM-NOTES part 2 section 2); the
other patterns and words are glm-tune's and say so in their verbalizer files.

Only AFQMC and CSL name a hub dataset: the hub's ``clue`` configs store the other labels as
class indices (TNEWS 0-14, CLUEWSC 0/1, OCNLI/CMNLI by a different order) and CHID in another
layout, which would not match these verbalizers; read the original files with ``--data-dir``.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from glm_tune.cloze.template import MASK, Patterns, Template, Text
from glm_tune.cloze.verbalizer import Verbalizer
from glm_tune.task.definition import Task
from glm_tune.task.readers import DataError, Row

_FOLDS = 5
UNLABELLED_SPLITS = ("test", "unlabeled")
"""Splits whose rows come without labels: the benchmark test file and FewCLUE's unlabeled.json."""


def clue_files() -> dict[str, str]:
    """Split name -> file name for CLUE and FewCLUE (see the module docstring)."""
    files = {"train": "train.json", "validation": "dev.json", "test": "test.json", "test_public": "test_public.json"}
    for k in range(_FOLDS):
        files[f"train_{k}"] = f"train_{k}.json"
    for k in range(_FOLDS):
        files[f"dev_{k}"] = f"dev_{k}.json"
    files["train_few_all"] = "train_few_all.json"
    files["dev_few_all"] = "dev_few_all.json"
    files["unlabeled"] = "unlabeled.json"  # FewCLUE's unlabelled text (PET's distillation)
    return files


def _clue_task(name: str, **kwargs: Any) -> Task:
    defaults: dict[str, Any] = dict(
        kind="classification",
        language="zh",
        verbalizer=partial(Verbalizer.from_file, name),
        files=clue_files(),
        file_format="jsonl",
        metrics=("accuracy",),
        max_length=256,
        unlabelled_splits=UNLABELLED_SPLITS,
    )
    defaults.update(kwargs)
    return Task(name=name, **defaults)


# --------------------------------------------------------------------------------------------
# Sentence pairs
# --------------------------------------------------------------------------------------------

# GLM's AFQMCPVP: pattern 0 '{a}？' | '你是说{b}？_。', pattern 1 '{a}？' | '_，{b}'.
_PAIR_PATTERNS = Patterns({
    0: Template("{sentence1}？", "你是说{sentence2}？[MASK]。"),
    1: Template("{sentence1}？", "[MASK]，{sentence2}"),
    # glm-tune's (PET-style, for few-shot ensembles): both sentences first, the blank between the
    # verdict's words (是/不是同一个意思).
    2: Template("“{sentence1}”与“{sentence2}”[MASK]同一个意思。"),
})

AFQMC = _clue_task(
    "afqmc",
    patterns=_PAIR_PATTERNS,
    fields=("sentence1", "sentence2"),
    hub_dataset=("clue", "afqmc"),
    description="CLUE AFQMC question matching; {train,dev,test}.json (sentence1, sentence2, label 0/1)",
)

BUSTM = _clue_task(
    "bustm",
    patterns=_PAIR_PATTERNS,
    fields=("sentence1", "sentence2"),
    description="FewCLUE BUSTM short-text matching; train_K/dev_K.json (sentence1, sentence2, label 0/1)",
)

_NLI_PATTERNS = Patterns({
    0: Template("{sentence1}？", "[MASK]，{sentence2}"),
    # glm-tune's, for few-shot ensembles: the hypothesis as a question, answered 是的/可能/不是.
    1: Template("{sentence1}", "问：{sentence2}？答：[MASK]。"),
    2: Template("前提：{sentence1}", "假设：{sentence2}。答案：[MASK]。"),
})

CMNLI = _clue_task(
    "cmnli",
    patterns=_NLI_PATTERNS,
    fields=("sentence1", "sentence2"),
    ignore_labels=("-",),  # no annotator majority; CLUE's baselines drop these rows
    description="CLUE CMNLI; {train,dev,test}.json (sentence1, sentence2, label entailment/neutral/contradiction)",
)

OCNLI = _clue_task(
    "ocnli",
    patterns=_NLI_PATTERNS,
    fields=("sentence1", "sentence2"),
    ignore_labels=("-",),  # no annotator majority; CLUE's baselines drop these rows
    description="CLUE / FewCLUE OCNLI; (sentence1, sentence2, label entailment/neutral/contradiction)",
)

# --------------------------------------------------------------------------------------------
# Single texts
# --------------------------------------------------------------------------------------------

# GLM's TNewsPVP (FlagAI); keywords may be empty, so only sentence is required.
TNEWS = _clue_task(
    "tnews",
    patterns=Patterns({
        0: Template("标题：{sentence}关键词：{keywords}类别：[MASK]", shrink=["sentence", "keywords"]),
        # glm-tune's, for the few-shot ensemble (PET-style: the blank first; another wording). They
        # read the keywords too: without them (their first version), glm-tiny's few-shot dev accuracy
        # on folds 0 and 3 was 4-8 points below pattern 0's, too weak a member for the ensemble.
        1: Template("[MASK]新闻：{sentence}关键词：{keywords}", shrink=["sentence", "keywords"]),
        2: Template("{sentence}关键词：{keywords}这条新闻属于[MASK]。", shrink=["sentence", "keywords"]),
    }),
    fields=("sentence",),
    description="CLUE / FewCLUE TNEWS news titles, 15 classes; (sentence, keywords, label 100-116)",
)

IFLYTEK = _clue_task(
    "iflytek",
    # Patterns 1 and 2 are glm-tune's, for few-shot ensembles (the blank first; another wording).
    patterns=Patterns({0: Template("{sentence}这是一款[MASK]类应用。"), 1: Template("[MASK]类应用：{sentence}"),
                       2: Template("{sentence}这个应用属于[MASK]。")}),
    fields=("sentence",),
    metrics=("accuracy", "f1_macro"),
    max_length=512,
    description="CLUE / FewCLUE IFLYTEK app descriptions, 119 classes; (sentence, label 0-118)",
)

# Pattern 0 is glm-tune's first; 1 and 2 (PET-style: other wordings) give the few-shot ensemble
# something to average; the label words 好/差 read right in all three. Patterns with the blank
# first ("这次购物很[MASK]。{sentence}") scored near chance zero-shot with glm-tiny (0.59 on
# dev_few_all, against 0.72 / 0.72 / 0.67 for these three).
EPRSTMT = _clue_task(
    "eprstmt",
    patterns=Patterns({0: Template("{sentence}总之很[MASK]。"), 1: Template("买家评价：{sentence}质量很[MASK]。"),
                       2: Template("{sentence}真的很[MASK]！")}),
    fields=("sentence",),
    description="FewCLUE EPRSTMT review sentiment; (sentence, label Positive/Negative)",
)

CSLDCP = _clue_task(
    "csldcp",
    # Patterns 1 and 2 are glm-tune's, for few-shot ensembles (the blank first; another wording).
    patterns=Patterns({0: Template("{content}这篇论文的学科是[MASK]。"), 1: Template("[MASK]论文：{content}"),
                       2: Template("{content}这是一篇[MASK]领域的论文。")}),
    fields=("content",),
    metrics=("accuracy", "f1_macro"),
    max_length=512,
    description="FewCLUE CSLDCP paper abstracts, 67 disciplines; (content, label = discipline name)",
)


def _csl_keywords(row: Row) -> str:
    keywords = row["keyword"]
    return "，".join(str(k) for k in keywords) if isinstance(keywords, list) else keywords


def _csl_pattern(row: Row):
    return ([Text(row["abst"], "abst")], ["关键词：", Text(_csl_keywords(row), "keyword"), "。以上", MASK, "这篇摘要的关键词。"])


# glm-tune's, for few-shot ensembles: the verdict (是/不是) before the keywords, or as an answer.
def _csl_pattern1(row: Row):
    return ([Text(row["abst"], "abst")], ["这篇摘要的关键词", MASK, "：", Text(_csl_keywords(row), "keyword")])


def _csl_pattern2(row: Row):
    return ([Text(row["abst"], "abst")], ["问：", Text(_csl_keywords(row), "keyword"), "是这篇摘要的关键词吗？答：", MASK, "。"])


CSL = _clue_task(
    "csl",
    patterns=Patterns({k: Template(f, shrink=["abst", "keyword"], truncation="in_order")
                       for k, f in enumerate((_csl_pattern, _csl_pattern1, _csl_pattern2))}),
    fields=("abst", "keyword"),
    max_length=512,
    hub_dataset=("clue", "csl"),
    description="CLUE / FewCLUE CSL keyword recognition; (abst, keyword list, label 0/1)",
)

# --------------------------------------------------------------------------------------------
# CLUEWSC
# --------------------------------------------------------------------------------------------


def _mark(text: str, index: Any, span: str, left: str, right: str) -> tuple[str, bool]:
    """Wrap ``span`` at character ``index`` of ``text``; unchanged when the offset is wrong."""
    if isinstance(index, int) and 0 <= index and text[index : index + len(span)] == span:
        return text[:index] + left + span + right + text[index + len(span) :], True
    return text, False


def cluewsc_text(row: Row) -> str:
    """The text with the pronoun as ``*pr*`` and the target noun as ``#t#`` (GLM's CluewscPVP).

    Marks go in at the data's character offsets, later span first so the earlier offset stays
    valid; a span whose offset does not match the text is left unmarked.
    """
    target = row["target"]
    text = row["text"]
    spans = [
        (target.get("span2_index"), target["span2_text"], "*", "*"),
        (target.get("span1_index"), target["span1_text"], "#", "#"),
    ]
    spans.sort(key=lambda s: s[0] if isinstance(s[0], int) else -1, reverse=True)
    for index, span, left, right in spans:
        text, _ = _mark(text, index, span, left, right)
    return text


def _cluewsc_pattern0(row: Row):
    target = row["target"]
    pronoun, noun = target["span2_text"], target["span1_text"]
    return [Text(cluewsc_text(row), "text"), f"代词'*{pronoun}*'", MASK, f"指#{noun}#."]


def _cluewsc_pattern1(row: Row):
    target = row["target"]
    pronoun, noun = target["span2_text"], target["span1_text"]
    return ["在如下的句子中：", Text(cluewsc_text(row), "text"), f"代词'*{pronoun}*'", MASK, f"指#{noun}#."]


def _cluewsc_pattern2(row: Row):
    # glm-tune's, for few-shot ensembles: the question after the text, answered 是/不是.
    target = row["target"]
    pronoun, noun = target["span2_text"], target["span1_text"]
    return [Text(cluewsc_text(row), "text"), f"问：这里的*{pronoun}*指的是#{noun}#吗？答：", MASK, "。"]


CLUEWSC = _clue_task(
    "cluewsc",
    patterns=Patterns({0: Template(_cluewsc_pattern0), 1: Template(_cluewsc_pattern1), 2: Template(_cluewsc_pattern2)}),
    fields=("text", "target"),
    max_length=256,
    description="CLUE / FewCLUE CLUEWSC2020 coreference; (text, target{span1,span2}, label true/false)",
)

# --------------------------------------------------------------------------------------------
# CHID: multiple choice over the candidate idioms
# --------------------------------------------------------------------------------------------

IDIOM = "#idiom#"
OTHER_BLANK = "______"
"""What other ``#idiom#`` blanks of the same text read as while one of them is asked."""


def _chid_expand(rows: list[Row], split: str, rng: random.Random) -> list[Row]:
    """One row per ``#idiom#`` blank.

    FewCLUE's CHID has exactly one blank per row and an integer ``answer``; a text with several
    blanks must give ``answer`` as a list with one index per blank, in order. ``_blank`` says
    which occurrence the row asks about.
    """
    out: list[Row] = []
    for row in rows:
        where = row.get("_source", "a CHID row")
        count = row["content"].count(IDIOM)
        if count == 0:
            raise DataError(f"{where}: field 'content' has no {IDIOM} blank")
        if not isinstance(row.get("candidates"), list) or not row["candidates"]:
            raise DataError(f"{where}: field 'candidates' must be a non-empty list of idioms")
        answer = row.get("answer")
        answers = answer if isinstance(answer, list) else [answer] * (1 if count == 1 else 0)
        if answer is not None and len(answers) != count:
            raise DataError(f"{where}: {count} {IDIOM} blanks but answer {answer!r} (give one index per blank)")
        for k in range(count):
            gold = None if answer is None else answers[k]
            if gold is not None and not (isinstance(gold, int) and 0 <= gold < len(row["candidates"])):
                raise DataError(f"{where}: answer {gold!r} is not an index into the {len(row['candidates'])} candidates")
            out.append({**row, "_blank": k, "answer": gold})
    return out


def _chid_pattern(row: Row):
    pieces = row["content"].split(IDIOM)
    blank = row.get("_blank", 0)
    before = OTHER_BLANK.join(pieces[: blank + 1])
    after = OTHER_BLANK.join(pieces[blank + 1 :])
    return [Text(before, "content"), MASK, Text(after, "content")]


CHID = Task(
    name="chid",
    kind="multiple_choice",
    language="zh",
    patterns=Patterns({0: Template(_chid_pattern)}),
    files=clue_files(),
    file_format="jsonl",
    fields=("content", "candidates"),
    metrics=("accuracy",),
    unlabelled_splits=UNLABELLED_SPLITS,
    candidates=lambda row: list(row["candidates"]),
    answer=lambda row: row["answer"],
    expand=_chid_expand,
    max_length=256,
    description="FewCLUE CHID idiom cloze; (content with #idiom#, candidates, answer index); one row per blank",
)
