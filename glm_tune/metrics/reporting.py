"""Results as a plain-text table or JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from glm_tune.table import format_table

ResultValue = float | int | Tensor
Results = Mapping[str, ResultValue | Mapping[str, ResultValue]]


def _to_float(value: ResultValue) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _rows(results: Results) -> list[tuple[str, dict[str, float]]]:
    """Each top-level key is a row; a bare number goes in the ``value`` column."""
    return [
        (
            str(key),
            {str(metric): _to_float(number) for metric, number in value.items()}
            if isinstance(value, Mapping)
            else {"value": _to_float(value)},
        )
        for key, value in results.items()
    ]


def results_table(results: Results) -> str:
    """Plain-text table of ``{name: value}`` or ``{task: {metric: value}}`` results.

    Values are printed as they are computed (fractions, MCC in [-1, 1]) with 4 decimals, not as
    percentages, so every metric reads on the same scale; a metric a row lacks shows ``-``.
    """
    rows = _rows(results)
    columns = list(dict.fromkeys(metric for _, values in rows for metric in values))
    header = ["", *columns]
    body = [[name, *(f"{values[c]:.4f}" if c in values else "-" for c in columns)] for name, values in rows]
    return format_table([header, *body], align="<" + ">" * len(columns))


def results_json(results: Results, indent: int | None = 2) -> str:
    """JSON of the same results with plain floats; non-finite values become ``null``
    (JSON has no NaN)."""

    def plain(value: ResultValue | Mapping[str, ResultValue]) -> Any:
        if isinstance(value, Mapping):
            return {str(key): plain(item) for key, item in value.items()}
        number = _to_float(value)
        return number if math.isfinite(number) else None

    return json.dumps(plain(results), indent=indent, ensure_ascii=False)
