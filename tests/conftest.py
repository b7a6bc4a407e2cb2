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


@pytest.fixture(scope="module")
def model(golden_dir):
    """The tiny random golden GLM (hub layout), loaded fresh for each test module that asks."""
    from glm_tune.model import GLMModel

    return GLMModel.from_pretrained(str(golden_dir))


@pytest.fixture(scope="session")
def tokenizer_golden(shared: Path) -> dict:
    """``golden/tokenizer-zh.json``: the reference tokenizer's ids, inputs and generations."""
    import json

    return json.loads((shared / "golden" / "tokenizer-zh.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def end_to_end(tokenizer_golden):
    """The golden generation cases, their contexts as the reference encodes them, and each blank's index."""
    from glm_tune.constants import BLANKS

    blanks = {tokenizer_golden["special_token_ids"][token] for token in BLANKS}
    encoded = {case["text"]: case["input_ids"] for case in tokenizer_golden["encode"]}
    cases = tokenizer_golden["end_to_end"]["cases"]
    contexts = [encoded[case["text"]] for case in cases]
    return cases, contexts, [next(i for i, t in enumerate(c) if t in blanks) for c in contexts]


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

