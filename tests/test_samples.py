"""The SST-2 sample shipped inside the package: small, GLUE's format, read offline by the task."""

from __future__ import annotations

import pytest

from glm_tune import hub
from glm_tune.task.definition import SAMPLES
from glm_tune.task import definition as task_definition
from glm_tune.task.registry import get_task

SST2 = SAMPLES / "sst2"


@pytest.fixture(autouse=True)
def fresh_process_state(hub_unknown):
    task_definition.announce_sample.cache_clear()  # the line is printed once per process


def test_the_sample_is_at_most_one_megabyte():
    assert {p.name for p in SST2.iterdir()} == {"train.tsv", "dev.tsv", "README.md"}
    assert sum(p.stat().st_size for p in SST2.iterdir()) <= 1_000_000


def test_the_sample_is_in_glue_format_and_made_of_glue_rows(shared):
    glue = shared / "data" / "sst2"
    for name in ("train.tsv", "dev.tsv"):
        lines = (SST2 / name).read_text(encoding="utf-8").splitlines(keepends=True)
        assert lines[0] == "sentence\tlabel\n"
        assert all(line.count("\t") == 1 and line.rstrip("\n").rsplit("\t", 1)[1] in ("0", "1") for line in lines[1:])
        original = (glue / name).read_text(encoding="utf-8").splitlines(keepends=True)
        assert set(lines[1:]) <= set(original[1:])
    assert (SST2 / "dev.tsv").read_bytes() == (glue / "dev.tsv").read_bytes()
    assert len((SST2 / "train.tsv").read_text(encoding="utf-8").splitlines()) == 14_001


def test_offline_the_task_reads_the_sample_and_says_so_once(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = get_task("sst2")
    train, report = task.load_split("train")
    dev, _ = task.load_split("validation")
    assert (len(train), len(dev)) == (14_000, 872)
    assert report.path == SST2 / "train.tsv"
    assert set(train[0]) >= {"sentence", "label"} and train[0]["label"] in ("0", "1")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sst2: offline (HF_HUB_OFFLINE=1): using the sample shipped with glm-tune (")
    assert "for the full data set run online or pass --data-dir with train.tsv, dev.tsv" in lines[0]


def test_online_the_task_reads_the_hub_not_the_sample(monkeypatch):
    import datasets

    asked = []

    def load_dataset(*args, split):
        asked.append((args, split))
        return datasets.Dataset.from_list([{"sentence": "fine .", "label": 1, "idx": 0}])

    monkeypatch.setattr(hub, "probe_hub", lambda: None)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    train, report = get_task("sst2").load_split("train")
    assert asked == [(("nyu-mll/glue", "sst2"), "train")]
    assert report is None and train[0]["label"] == "1"
