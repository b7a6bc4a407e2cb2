"""Predictions as the SuperGLUE and CLUE / FewCLUE leaderboards take them.

SuperGLUE (super.gluebenchmark.com; the layout jiant's submission formatter writes): one JSONL
file per task, named ``BoolQ.jsonl``, ``CB.jsonl``, ``COPA.jsonl``, ``MultiRC.jsonl``,
``ReCoRD.jsonl``, ``RTE.jsonl``, ``WiC.jsonl``, ``WSC.jsonl``, one line per test example keyed
by the test file's ``idx``:

- BoolQ, WiC: ``{"idx": 0, "label": "true"}`` (lowercase ``true``/``false``); CB, RTE: the
  label name (``entailment``, ``not_entailment``, ...); WSC: ``"True"``/``"False"``; COPA: the
  chosen choice, ``0`` or ``1``;
- MultiRC, one line per passage: ``{"idx": p, "passage": {"questions": [{"idx": q, "answers":
  [{"idx": a, "label": 0|1}]}]}}``;
- ReCoRD, one line per query: ``{"idx": q, "label": "entity text"}``.

CLUE / FewCLUE (cluebenchmarks.com; FewCLUE's ``resources/fewclue_submit_examples``): one JSON
object per line keyed by the test file's ``id`` (CLUEWSC's ``idx``), ``{"id": 7, "label":
"Positive"}`` with the label as the data spells it, CHID ``{"id": 3000, "answer": 2}``, in
``eprstmt_predict.json``, ``bustm_predict.json``, ``csldcp_predict.json``,
``tnewsf_predict.json``, ``iflytekf_predict.json``, ``ocnlif_predict.json``,
``cslf_predict.json``, ``cluewscf_predict.json``, ``chidf_predict.json`` (CLUE's AFQMC and
CMNLI: ``afqmc_predict.json``, ``cmnli_predict.json``; CMRC 2018: ``cmrc2018_predict.json``, one
JSON object ``{question id: answer}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glm_tune.atomic import atomic_path
from glm_tune.task.definition import Task
from glm_tune.task.readers import DataError, Row

SUPERGLUE_FILES = {"boolq": "BoolQ.jsonl", "cb": "CB.jsonl", "copa": "COPA.jsonl", "multirc": "MultiRC.jsonl",
                   "record": "ReCoRD.jsonl", "rte": "RTE.jsonl", "wic": "WiC.jsonl", "wsc": "WSC.jsonl"}
CLUE_FILES = {"eprstmt": "eprstmt_predict.json", "bustm": "bustm_predict.json", "csldcp": "csldcp_predict.json",
              "tnews": "tnewsf_predict.json", "iflytek": "iflytekf_predict.json", "ocnli": "ocnlif_predict.json",
              "csl": "cslf_predict.json", "cluewsc": "cluewscf_predict.json", "chid": "chidf_predict.json",
              "afqmc": "afqmc_predict.json", "cmnli": "cmnli_predict.json", "cmrc2018": "cmrc2018_predict.json"}
FILES = {"superglue": SUPERGLUE_FILES, "clue": CLUE_FILES}

Prediction = dict[str, Any]


def write_submission(task: Task, rows: list[Row], predictions: list[Prediction], benchmark: str,
                     folder: str | Path) -> Path:
    """Write ``task``'s predictions for ``rows`` in ``benchmark``'s format into ``folder``.

    ``predictions`` are the module's (``index`` into ``rows``, ``prediction``, ``label_index``);
    ``rows`` are the task's rows as read and expanded (MultiRC: one per answer option).
    """
    if benchmark not in FILES:
        raise ValueError(f"unknown submission format {benchmark!r}; use {', '.join(FILES)}")
    names = FILES[benchmark]
    if task.name not in names:
        raise ValueError(f"--format {benchmark}: task {task.name} has no {benchmark} leaderboard file; "
                         f"the format covers {', '.join(names)}")
    by_index = sorted(predictions, key=lambda p: p["index"])
    lines = _FORMATTERS.get(task.name, _clue_label if benchmark == "clue" else _superglue_label)(task, rows, by_index)
    path = Path(folder) / names[task.name]
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        if task.name == "cmrc2018":
            json.dump(dict(lines), handle, ensure_ascii=False)
        else:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


def _key(row: Row, *names: str) -> Any:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    raise DataError(f"{row.get('_source', 'a row')}: no {' or '.join(names)} field; the leaderboard matches "
                    "predictions to the test file by it")


def _superglue_label(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    spell: Callable[[str], Any] = {"boolq": str.lower, "wic": str.lower}.get(task.name, str)
    return [{"idx": _key(rows[p["index"]], "idx"), "label": spell(str(p["prediction"]))} for p in predictions]


def _copa(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    return [{"idx": _key(rows[p["index"]], "idx"), "label": int(p["label_index"])} for p in predictions]


def _wsc(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    # GLM's reading of the multiple-choice scores: True iff span1 (candidate 0) wins.
    return [{"idx": _key(rows[p["index"]], "idx"), "label": str(p["label_index"] == 0)} for p in predictions]


def _multirc(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    passages: dict[Any, dict[Any, list[dict]]] = {}
    for p in predictions:
        row = rows[p["index"]]
        questions = passages.setdefault(_key(row, "passage_idx"), {})
        questions.setdefault(_key(row, "question_idx"), []).append(
            {"idx": _key(row, "answer_idx"), "label": int(p["prediction"])})
    return [{"idx": passage, "passage": {"questions": [{"idx": q, "answers": answers}
                                                       for q, answers in questions.items()]}}
            for passage, questions in passages.items()]


def _record(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    return [{"idx": _key(rows[p["index"]], "query_idx"), "label": rows[p["index"]]["entities"][p["label_index"]]}
            for p in predictions]


def _clue_label(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    return [{"id": _key(rows[p["index"]], "id", "idx"), "label": str(p["prediction"])} for p in predictions]


def _chid(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[dict]:
    return [{"id": _key(rows[p["index"]], "id"), "answer": int(p["label_index"])} for p in predictions]


def _cmrc2018(task: Task, rows: list[Row], predictions: list[Prediction]) -> list[tuple]:
    return [(_key(rows[p["index"]], "id"), p["prediction"]) for p in predictions]


_FORMATTERS = {"copa": _copa, "wsc": _wsc, "multirc": _multirc, "record": _record, "chid": _chid,
               "cmrc2018": _cmrc2018}
