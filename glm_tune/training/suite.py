"""Run a suite of ``glm-tune fit`` configs and tabulate the scores against the published ones.

A suite is a directory of flat YAML files whose keys are the ``glm-tune fit`` options (one run
per file, named by the file's stem) plus an ``expected.yaml`` mapping run name to
``{metric: NAME, expected: VALUE | null, source: "..."}``::

    from glm_tune.training.suite import run_suite
    run_suite("experiments/smoke", "runs/smoke", overrides={"max_steps": 2})

Each YAML becomes a :class:`~glm_tune.training.run.FitConfig` through :func:`glm_tune.training.run.load_fit_config`,
which declares the options ``glm-tune fit --config FILE`` parses, so a config that runs with the
CLI runs here and vice versa. Paths inside a YAML (``model``, ``tokenizer``, ``data_dir``) are taken
relative to the current directory, as the CLI takes them, not relative to the YAML file.

Results go to a markdown file (default ``experiments/RESULTS.md``) that holds one section per
suite; a suite's section is rewritten after every run, so an interrupted suite keeps what it
finished. Expected scores are percentages; ``got`` is the run's ``val/<metric>`` times 100 and
``delta`` is got - expected in points. A run that fails is recorded with its error and the suite
goes on.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from glm_tune.atomic import write_text_atomic
from glm_tune.errors import OptionError, RunInterrupted
from glm_tune.training.run import load_fit_config

EXPECTED_FILE = "expected.yaml"
DEFAULT_RESULTS = Path("experiments") / "RESULTS.md"
DASH = "—"


@dataclass
class RunRecord:
    """One row of a suite's results table."""

    name: str
    task: str = DASH
    model: str = DASH
    metric: str = DASH
    expected: float | None = None
    got: float | None = None
    status: str = "pending"
    error: str | None = None
    seconds: float | None = None

    @property
    def delta(self) -> float | None:
        if self.got is None or self.expected is None:
            return None
        return self.got - self.expected


def _cli_value(value: Any) -> str:
    """An override as ``--set KEY=VALUE`` spells it, for the command line the results record."""
    if isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    return json.dumps(value)


def suite_runs(suite_dir: str | Path) -> list[Path]:
    """The run configs of a suite: every *.yaml / *.yml but expected.yaml, sorted by name."""
    suite = Path(suite_dir)
    if not suite.is_dir():
        raise OptionError(f"suite directory {suite} not found")
    files = sorted(p for p in suite.iterdir() if p.suffix in (".yaml", ".yml") and p.stem != "expected")
    if not files:
        raise OptionError(f"{suite} holds no run configs (*.yaml besides {EXPECTED_FILE})")
    return files


def load_expected(suite_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``expected.yaml`` of a suite ({} when it has none)."""
    path = Path(suite_dir) / EXPECTED_FILE
    if not path.is_file():
        return {}
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise OptionError(f"{path}: expected a mapping run name -> {{metric: ..., expected: ..., source: ...}}")
    return values


def run_suite(
    suite_dir: str | Path,
    output_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    only: list[str] | None = None,
    results: str | Path | None = None,
    data_dir: str | Path | None = None,
    on_run_end: Callable[[RunRecord], None] | None = None,
) -> Path:
    """Fit every run of a suite in name order; returns the results markdown file.

    Args:
        suite_dir: directory of fit YAMLs and expected.yaml.
        output_dir: each run goes to OUTPUT_DIR/<run name> (replacing an earlier run there).
        overrides: fit options applied on top of every YAML ({"max_steps": 2, "data_dir": ...}).
        only: run only these run names (YAML stems); unknown names are errors.
        results: the markdown file (default experiments/RESULTS.md); the suite's section in it is
            replaced, other suites' sections are kept.
        on_run_end: called with each run's record once the run is done (ok or failed).
    """
    from glm_tune.task.registry import get_task

    suite = Path(suite_dir)
    files = suite_runs(suite)
    if only:
        names = {p.stem for p in files}
        unknown = sorted(set(only) - names)
        if unknown:
            raise OptionError(f"--only: no run named {unknown} in {suite} (runs: {sorted(names)})")
        files = [p for p in files if p.stem in set(only)]
    expected = load_expected(suite)
    overrides = dict(overrides or {})
    for key in ("output_dir", "overwrite", "config"):
        if key in overrides:
            raise OptionError(f"override {key!r} is set by the suite itself (use the output_dir argument)")
    results_path = Path(results) if results is not None else DEFAULT_RESULTS
    out = Path(output_dir)
    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    command = _command(suite, out, overrides, only, results, data_dir)
    records = [RunRecord(p.stem) for p in files]
    _write(results_path, suite, records, started, command, overrides)

    from glm_tune.training.run import fit

    for path, record in zip(files, records):
        entry = expected.get(record.name, {})
        record.expected = _number(entry.get("expected"))
        began = time.monotonic()
        try:
            config = load_fit_config(path, overrides)
            if data_dir is not None and "data_dir" not in overrides and config.data.data_dir:
                data = replace(config.data, data_dir=str(Path(data_dir) / Path(config.data.data_dir).name))
                config = replace(config, data=data)
            config = replace(config, output_dir=str(out / record.name), overwrite=True, resume=False)
            record.task, record.model = config.task, config.model
            record.metric = entry.get("metric") or get_task(config.task).metrics[0]
            record.status = "running"
            _write(results_path, suite, records, started, command, overrides)
            metrics = fit(config).metrics
            key = f"val/{record.metric}"
            if key not in metrics:
                raise KeyError(f"the run reported no {key} (it has {sorted(metrics)})")
            record.got = 100.0 * metrics[key]
            record.status = "ok"
        except RunInterrupted:  # Ctrl-C stops the suite, not just this run
            record.status = "interrupted"
            _write(results_path, suite, records, started, command, overrides)
            raise
        except Exception as error:  # one broken run must not stop the suite
            record.status = "failed"
            record.error = f"{type(error).__name__}: {error}".strip()
            (out / record.name).mkdir(parents=True, exist_ok=True)
            (out / record.name / "suite_error.txt").write_text(traceback.format_exc())
        record.seconds = time.monotonic() - began
        _write(results_path, suite, records, started, command, overrides)
        if on_run_end is not None:
            on_run_end(record)
    return results_path


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _command(suite: Path, out: Path, overrides: dict[str, Any], only: list[str] | None,
             results: str | Path | None, data_dir: str | Path | None) -> str:
    parts = ["glm-tune", "suite", str(suite), "--output-dir", str(out)]
    if data_dir is not None:
        parts += ["--data-dir", str(data_dir)]
    if results is not None:
        parts += ["--results", str(results)]
    for key, value in overrides.items():
        parts += ["--set", f"{key}={_cli_value(value)}"]
    if only:
        parts += ["--only", *only]
    return " ".join(parts)


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_section(suite: Path, records: list[RunRecord], started: str, command: str,
                   overrides: dict[str, Any]) -> str:
    """The markdown of one suite's results."""
    name = suite.name
    lines = [
        f"<!-- suite: {name} -->",
        f"## {name}",
        "",
        f"- date: {started}",
        f"- command: `{command}`",
        f"- overrides: {', '.join(f'`{k}={_cli_value(v)}`' for k, v in overrides.items()) or 'none'}",
        f"- configs: `{suite}/*.yaml`; expected scores: `{suite / EXPECTED_FILE}` (percent; got = val/metric x 100)",
        "",
        "| run | task | model | metric | expected | got | delta | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        status = r.status if r.seconds is None else f"{r.status} ({r.seconds:.0f} s)"
        lines.append("| " + " | ".join(_cell(c) for c in (
            r.name, r.task, r.model, r.metric, _fmt(r.expected), _fmt(r.got), _fmt(r.delta, signed=True), status,
        )) + " |")
    failed = [r for r in records if r.error]
    if failed:
        lines += ["", "Failed runs:", ""]
        lines += [f"- `{r.name}`: {_cell(r.error or '')[:500]}" for r in failed]
    lines.append(f"<!-- end suite: {name} -->")
    return "\n".join(lines) + "\n"


_HEADER = ("# Results\n\nWritten by `glm-tune suite` (glm_tune/training/suite.py): one section per suite, each rewritten "
           "when the suite runs again.\n")


def _write(path: Path, suite: Path, records: list[RunRecord], started: str, command: str,
           overrides: dict[str, Any]) -> None:
    section = render_section(suite, records, started, command, overrides)
    text = path.read_text(encoding="utf-8") if path.is_file() else _HEADER
    name = re.escape(suite.name)
    pattern = re.compile(rf"<!-- suite: {name} -->\n.*?<!-- end suite: {name} -->\n", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text)


def read_results(path: str | Path, suite: str) -> list[dict[str, str]]:
    """The table rows of one suite's section of a results file (for tests and scripts)."""
    text = Path(path).read_text(encoding="utf-8")
    match = re.search(rf"<!-- suite: {re.escape(suite)} -->\n(.*?)<!-- end suite", text, re.S)
    if not match:
        raise OptionError(f"{path} has no section for suite {suite}")
    rows = [line for line in match.group(1).splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in row.strip("|").split("|")))) for row in rows[2:]]
