"""Shared fixtures.

Tests read the developers' shared folder (golden fixtures, real tokenizers, benchmark data) in
place. It lives beside the project root as ``../shared``; set ``GLM_TUNE_SHARED`` to point
elsewhere. Nothing from it is copied into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    return Path(os.environ.get("GLM_TUNE_SHARED", PROJECT_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder; tests that need it skip (with the reason) when it is absent."""
    root = shared_path()
    if not (root / "golden").is_dir():
        pytest.skip(f"shared fixtures not found at {root} (set GLM_TUNE_SHARED)")
    return root


@pytest.fixture(scope="session")
def golden_dir(shared: Path) -> Path:
    return shared / "golden" / "glm-ref-zh"


@pytest.fixture(scope="session")
def tokenizers_dir(shared: Path) -> Path:
    return shared / "tokenizers"


@pytest.fixture(scope="session")
def zh(tokenizers_dir):
    """The real Chinese GLM tokenizer (cog-pretrain.model)."""
    from glm_tune.tokenizer import load_tokenizer

    return load_tokenizer(str(tokenizers_dir / "glm-chinese"))


@pytest.fixture(scope="session")
def bert(tokenizers_dir):
    """glm-large's BERT WordPiece tokenizer."""
    from glm_tune.tokenizer import load_tokenizer

    return load_tokenizer(str(tokenizers_dir / "glm-english-bert"))


@pytest.fixture(scope="session")
def gpt2(tokenizers_dir):
    """glm-2b / glm-10b's GPT-2 BPE tokenizer."""
    from glm_tune.tokenizer import load_tokenizer

    return load_tokenizer(str(tokenizers_dir / "glm-gpt2"), kind="gpt2")


@pytest.fixture
def hub_unknown(monkeypatch):
    """No offline variable set and no cached answer of the hub probe, before and after the test."""
    from glm_tune import hub

    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    probe = hub.probe_hub  # the cached function itself, whatever a test patches in
    probe.cache_clear()
    yield
    probe.cache_clear()

