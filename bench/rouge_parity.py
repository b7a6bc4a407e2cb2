"""ROUGE parity: glm_tune.metrics (on rouge_score) against the hand-written scorer it replaced.

    python bench/rouge_parity.py [--revision REV] [--shared ../shared]

Loads the hand-written ``glm_tune/metrics.py`` from git revision ``REV`` (the last one that has
it) and scores the same predictions with both: the cross-check cases of tests/metrics/test_metrics.py
(English with and without stemming, Chinese by character, rougeLsum over sentence lines), and
pairs built from real data in the shared folder (SST-2 and RTE for English, LCSTS for Chinese,
one sentence per line for rougeLsum, several references per example). It also compares the
Porter stemmer word by word on every distinct word of SST-2 and FewGLUE. Prints the number of
cases, how many differ and the largest difference; exits 1 if any score or stem differs.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from glm_tune.metrics import porter_stem, rouge_f, rouge_tokenize

VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
ROOT = Path(__file__).resolve().parents[1]


def load_old(revision: str):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:glm_tune/metrics.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "handwritten_metrics.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("handwritten_metrics", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_cases() -> list[tuple[str, str | list[str], str, bool]]:
    """(prediction, references, language, use_stemmer): the cases tests/metrics/test_metrics.py checks."""
    return [
        ("The cat sat on the mat.", "the cat is on the mat", "en", False),
        ("running dogs", "the dog runs", "en", False),
        ("running dogs", "the dog runs", "en", True),
        ("three four\none two", "one two\nthree four", "en", False),
        ("cat\ncat", "cat cat", "en", False),
        ("我爱北京。", "我爱上海", "zh", False),
        ("我爱北京", "我爱上海", "zh", False),
        ("天安门", "北京天安门", "zh", False),
        ("a b", ["c", "a b"], "en", False),
        ("x y", "x z", "en", False),
        ("", "x", "en", False),
        ("a b c", "a c", "en", False),
        ("d", "d e", "en", False),
        ("f g", "g f", "en", False),
        ("ＧＬＭ模型２０２２年，很好！", "GLM 模型 2022 年很好", "zh", True),
    ]


def sentence_lines(text: str, language: str) -> str:
    pattern = r"(?<=[。！？])" if language == "zh" else r"(?<=[.!?])\s+"
    return "\n".join(part for part in re.split(pattern, text) if part.strip())


def data_cases(shared: Path) -> list[tuple[str, str | list[str], str, bool]]:
    cases: list[tuple[str, str | list[str], str, bool]] = []
    with open(shared / "data" / "sst2" / "dev.tsv", encoding="utf-8") as file:
        sentences = [row["sentence"] for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)]
    for i in range(0, 400):
        first, second = sentences[i], sentences[i + 1]
        words = first.split()
        dropped = " ".join(words[::2] + words[1::3])  # shares words and some order with `first`
        for stem in (False, True):
            cases.append((dropped, first, "en", stem))
            cases.append((first, [second, dropped], "en", stem))
    for line in (shared / "data" / "fewglue" / "RTE" / "train.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for stem in (False, True):
            cases.append((row["hypothesis"], sentence_lines(row["premise"], "en"), "en", stem))
            cases.append((sentence_lines(row["premise"], "en"), row["hypothesis"], "en", stem))
    with open(shared / "data" / "lcsts" / "val.tsv", encoding="utf-8") as file:
        rows = [line.rstrip("\n").split("\t") for line in file][:400]
    for summary, text in rows:
        cases.append((text[:30], summary, "zh", False))
        cases.append((sentence_lines(text, "zh"), [summary, text[-25:]], "zh", False))
    return cases


def words(shared: Path) -> set[str]:
    texts = [(shared / "data" / "sst2" / "train.tsv").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (shared / "data" / "fewglue").rglob("*.jsonl")]
    return {word for text in texts for word in re.findall(r"[a-z0-9]+", text.lower())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the last commit with the hand-written glm_tune/metrics.py
    parser.add_argument("--revision", default="15651f12155f200e46ce2f134c2f83c6330cbd5a",
                        help="a git revision that has glm_tune/metrics.py")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    old = load_old(args.revision)

    cases = test_cases() + data_cases(args.shared)
    scored = differ = 0
    largest = 0.0
    for prediction, references, language, stem in cases:
        for variant in VARIANTS:
            before = old.rouge_f(prediction, references, variant, language, stem)
            after = rouge_f(prediction, references, variant, language, stem)
            scored += 1
            if before != after:
                differ += 1
                largest = max(largest, abs(before - after))
                if differ <= 10:
                    print(f"differs: {variant} {language} stem={stem} {prediction!r} vs {references!r}: "
                          f"{before!r} -> {after!r}")
        for text in [prediction, *([references] if isinstance(references, str) else references)]:
            if old.rouge_tokenize(text, language, stem) != rouge_tokenize(text, language, stem):
                differ += 1
                print(f"tokens differ: {language} stem={stem} {text!r}")
    vocabulary = sorted(words(args.shared))
    stems_differ = [w for w in vocabulary if old.porter_stem(w) != porter_stem(w)]
    print(f"{len(cases)} cases, {scored} scores (4 variants) and their token lists: {differ} differ, largest difference {largest}")
    print(f"{len(vocabulary)} distinct words stemmed: {len(stems_differ)} differ {stems_differ[:10]}")
    return 1 if differ or stems_differ else 0


if __name__ == "__main__":
    sys.exit(main())
