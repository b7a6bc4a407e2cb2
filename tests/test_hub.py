"""The hub's reachability is decided fast: from the environment, or by one short probe."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

from glm_tune import hub
from glm_tune.task.readers import DataError


pytestmark = pytest.mark.usefixtures("hub_unknown")


def _no_probe():
    raise AssertionError("the environment already said offline: no probe may be made")


@pytest.mark.parametrize("name", hub.OFFLINE_VARIABLES)
def test_an_offline_variable_answers_without_a_probe(monkeypatch, name):
    monkeypatch.setattr(hub, "probe_hub", _no_probe)
    monkeypatch.setenv(name, "1")
    assert hub.offline_reason() == f"{name}=1"


def test_a_false_offline_variable_leaves_the_answer_to_the_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub, "probe_hub", lambda: None)
    assert hub.offline_reason() is None
    monkeypatch.setattr(hub, "probe_hub", lambda: "no network")
    assert hub.offline_reason() == "no network"


def test_the_probe_is_made_once_per_process(monkeypatch):
    calls = []

    def unreachable(request, timeout):
        calls.append((request.get_method(), request.full_url, timeout))
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    first = hub.offline_reason()
    assert first == "https://huggingface.co did not answer within 1.5 s (Name or service not known)"
    assert hub.offline_reason() == first
    assert calls == [("HEAD", hub.HUB_URL, hub.PROBE_TIMEOUT_S)]


def test_any_http_answer_means_online(monkeypatch):
    def forbidden(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    assert hub.offline_reason() is None


def test_a_silent_server_is_given_up_within_two_seconds(monkeypatch):
    # A socket that listens but never answers: the connection is made, the reply never comes.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setattr(hub, "HUB_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
        start = time.monotonic()
        reason = hub.offline_reason()
        elapsed = time.monotonic() - start
    assert reason is not None and "did not answer within 1.5 s" in reason
    assert 1.4 < elapsed < 2.0


def test_a_hub_task_without_a_sample_fails_offline_at_once(monkeypatch):
    from glm_tune.task.registry import get_task

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(DataError, match=r"offline \(HF_HUB_OFFLINE=1\); pass --data-dir with .*train.jsonl"):
        get_task("rte").load_split("train")
    assert time.monotonic() - start < 2.0
