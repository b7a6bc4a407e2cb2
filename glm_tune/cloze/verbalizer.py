"""Verbalizers: the label words a cloze model writes into the blank for each label.

A :class:`Verbalizer` maps every label (a string, in a fixed order that defines the class
index) to one or more label words::

    Verbalizer({"0": [" terrible"], "1": [" great"]})
    Verbalizer.from_file("sst2", pattern_id=1)          # verbalizers/sst2.json, pattern 1
    Verbalizer.from_file("path/to/my_task.yaml")

:meth:`Verbalizer.tokenize` turns the words into token ids for one tokenizer and checks them
(unknown pieces, special tokens, two words with the same ids); the resulting
:class:`VerbalizedLabels` says whether every word is a single token (the fast path: read K
logits at the blank) or whether the exact multi-token scorer is needed, and folds per-word
scores into per-label scores.

**Leading spaces.** English label words carry a leading space (``" great"``) because that is
how the word looks in running text after ``"It was"``: the GPT-2/RoBERTa BPE vocabularies have
a separate piece for ``"Ġgreat"`` (word-initial) and ``"great"`` (inside a word), and GLM's
own PVPs spell every English word this way. WordPiece (BERT) ignores the space, and the Chinese
SentencePiece model adds its word-start marker ``▁`` to every separately encoded string anyway,
so the space is harmless there. Chinese words are written without one.

**Tokenization of a word.** A word is encoded on its own, ``tokenizer.encode(word,
add_special_tokens=False)``, exactly as GLM's ``get_verbalization_ids`` does. With the Chinese
SentencePiece model that yields the word-start form (``故事`` -> ``▁故事``), and a word whose
word-start form is not in the vocabulary splits into the bare marker plus the word
(``居家`` -> ``▁`` ``居家``, two tokens): it is then scored by the exact multi-token path.
``tokenize(..., continuation=True)`` encodes words as they read after other text instead
(``故事``, ``居家``: one piece each).

**File format** (JSON, or YAML when PyYAML is installed; PyYAML is imported only to read a
``.yaml``/``.yml`` file)::

    {"description": "free text",
     "labels": {"0": [" terrible"], "1": [" great"]}}           # one word list for every pattern
    {"description": "free text",
     "patterns": {"0": {"0": [" terrible"], "1": [" great"]},   # or one per pattern id
                  "1": {"0": [" bad"], "1": [" good"]}}}

A single word may be given as a string instead of a one-element list. Labels must be strings
(quote them in YAML: ``"100": [故事]``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch

from glm_tune.cloze.template import encode_piece
from glm_tune.errors import GLMTuneError

Combine = Literal["logsumexp", "max"]
ScoringPath = Literal["single_token", "multi_token"]

_FILE_KEYS = {"description", "labels", "patterns"}
# Command tokens a label word must never map to; read from the tokenizer when it has them.
_SPECIAL_ATTRS = (
    "cls_token_id",
    "eos_token_id",
    "pad_token_id",
    "sep_token_id",
    "mask_token_id",
    "smask_token_id",
    "gmask_token_id",
    "sop_token_id",
    "eop_token_id",
)


class VerbalizerError(GLMTuneError):
    """A verbalizer, its file, its tokenization or the labels of a data set are inconsistent."""


def _describe_tokenizer(tokenizer: Any) -> str:
    name = getattr(tokenizer, "name_or_path", None)
    return f"{type(tokenizer).__name__}({name!r})" if name else type(tokenizer).__name__


def combine(word_scores: torch.Tensor, how: Combine = "logsumexp") -> torch.Tensor:
    """Fold the scores of one label's words (last dimension) into the label's score.

    ``word_scores`` are log-probabilities (or logits) of the words, ``[..., n_words]``.

    - ``"logsumexp"`` (default): ``log Σ_w exp(s_w)``. With log-probabilities this is the log of
      the label's probability, the sum of its words' probabilities; with logits at one blank
      (the single-token path), a softmax over the label scores equals summing the softmax
      probabilities of each label's words.
    - ``"max"``: the best word stands for the label.

    A label with one word gets that word's score under either rule.
    """
    if how == "logsumexp":
        return torch.logsumexp(word_scores, dim=-1)
    if how == "max":
        return word_scores.max(dim=-1).values
    raise ValueError(f"unknown combination {how!r}; use 'logsumexp' or 'max'")


@dataclass(frozen=True)
class VerbalizedLabels:
    """A verbalizer's words as token ids for one tokenizer.

    Words are laid out flat, label after label in the verbalizer's order: ``candidates[k]`` is
    the id sequence of word ``k``, ``word_label[k]`` the index of its label. This is the
    candidate list the multi-token scorer takes, and ``[batch, len(candidates)]`` is the shape
    :meth:`label_scores` folds into ``[batch, len(labels)]``.
    """

    labels: tuple[str, ...]
    words: tuple[tuple[str, ...], ...]
    token_ids: tuple[tuple[tuple[int, ...], ...], ...]

    @property
    def candidates(self) -> list[list[int]]:
        """Every word's token ids, flat, label after label."""
        return [list(ids) for per_label in self.token_ids for ids in per_label]

    @property
    def word_label(self) -> list[int]:
        """The label index of each flat candidate."""
        return [i for i, per_label in enumerate(self.token_ids) for _ in per_label]

    @property
    def words_per_label(self) -> list[int]:
        """How many words each label has."""
        return [len(per_label) for per_label in self.token_ids]

    @property
    def single_token(self) -> bool:
        """True when every word is exactly one token (the fast path applies)."""
        return all(len(ids) == 1 for per_label in self.token_ids for ids in per_label)

    @property
    def single_token_ids(self) -> list[int]:
        """The one id of every flat word, for reading logits at the blank."""
        if not self.single_token:
            raise VerbalizerError(f"words with several tokens: {self.multi_token_words()}")
        return [ids[0] for ids in self.candidates]

    def multi_token_words(self) -> dict[str, list[str]]:
        """label -> its words that tokenize to more than one token."""
        found: dict[str, list[str]] = {}
        for label, words, ids in zip(self.labels, self.words, self.token_ids):
            long = [w for w, t in zip(words, ids) if len(t) > 1]
            if long:
                found[label] = long
        return found

    def scoring_path(self, prefer_single_token: bool = True) -> ScoringPath:
        """Which scorer to use: the single-token fast path when asked for and possible.

        Asking for the fast path with multi-token words warns (naming them) and returns
        ``"multi_token"``: scoring only a word's first piece, or averaging its pieces' logits at
        one blank, would be an approximation, so the exact scorer is used instead.
        """
        if not prefer_single_token:
            return "multi_token"
        if self.single_token:
            return "single_token"
        pieces = {
            f"{label}: {word!r} -> {len(ids)} tokens"
            for label, words, ids_list in zip(self.labels, self.words, self.token_ids)
            for word, ids in zip(words, ids_list)
            if len(ids) > 1
        }
        warnings.warn(
            "the single-token fast path was asked for, but these label words have several "
            f"tokens ({'; '.join(sorted(pieces))}); the exact multi-token path will be used instead",
            stacklevel=2,
        )
        return "multi_token"

    def label_scores(self, word_scores: torch.Tensor, how: Combine = "logsumexp") -> torch.Tensor:
        """Fold flat per-word scores ``[..., n_words]`` into per-label scores ``[..., n_labels]``.

        See :func:`combine` for ``how``.
        """
        if word_scores.shape[-1] != sum(self.words_per_label):
            raise ValueError(
                f"word_scores has {word_scores.shape[-1]} scores in its last dimension; this "
                f"verbalizer has {sum(self.words_per_label)} words"
            )
        chunks = word_scores.split(self.words_per_label, dim=-1)
        return torch.stack([combine(chunk, how) for chunk in chunks], dim=-1)


class Verbalizer:
    """label -> label words; the label order defines the class index.

    ``words`` maps each label (a string) to one word or a list of words. Construction rejects
    non-string labels, empty words, a word listed twice and a word shared by two labels;
    :meth:`tokenize` adds the checks that need a tokenizer. ``source`` (a file name, usually set
    by :meth:`from_file`) is quoted in error messages.
    """

    def __init__(self, words: Mapping[str, str | Sequence[str]], *, source: str | None = None) -> None:
        self.source = source
        where = f" in {source}" if source else ""
        if not words:
            raise VerbalizerError(f"verbalizer{where} has no labels")
        parsed: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for label, entry in words.items():
            if not isinstance(label, str):
                raise VerbalizerError(
                    f"label {label!r} ({type(label).__name__}){where} is not a string; labels are "
                    f"strings (write {str(label)!r}; quote it in YAML)"
                )
            entry_words = (entry,) if isinstance(entry, str) else tuple(entry)
            if not entry_words:
                raise VerbalizerError(f"label {label!r}{where} has no words")
            for word in entry_words:
                if not isinstance(word, str) or not word.strip():
                    raise VerbalizerError(f"label {label!r}{where} has an empty word {word!r}")
                if word in owner:
                    if owner[word] == label:
                        raise VerbalizerError(f"label {label!r}{where} lists the word {word!r} twice")
                    raise VerbalizerError(
                        f"labels {owner[word]!r} and {label!r}{where} share the word {word!r}; a word "
                        "must name one label"
                    )
                owner[word] = label
            parsed[label] = entry_words
        self.words: dict[str, tuple[str, ...]] = parsed

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels in class-index order."""
        return tuple(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        source = f", source={self.source!r}" if self.source else ""
        return f"Verbalizer({dict(self.words)!r}{source})"

    def index(self, label: str) -> int:
        """The class index of ``label``."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise self._missing_label_error([label], None) from None

    def check_labels(self, labels_seen: Iterable[Any], source: str | None = None) -> None:
        """Raise when the data holds a label this verbalizer lacks.

        ``source`` says where the labels came from (a file, a split, a row) for the message.
        Labels the data never uses are fine (a small dev set may miss a class).
        """
        missing = sorted({label for label in labels_seen if label not in self.words}, key=repr)
        if missing:
            raise self._missing_label_error(missing, source)

    def _missing_label_error(self, missing: Sequence[Any], source: str | None) -> VerbalizerError:
        shown = ", ".join(repr(label) for label in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        origin = f" in {source}" if source else ""
        mine = f" (from {self.source})" if self.source else ""
        hint = ""
        if any(not isinstance(label, str) and str(label) in self.words for label in missing):
            hint = "; the data's labels are not strings: convert them with str()"
        return VerbalizerError(
            f"label {shown}{more}{origin} is not in the verbalizer{mine}, whose labels are "
            f"{list(self.labels)}{hint}"
        )

    @classmethod
    def from_file(cls, path_or_name: str | Path, pattern_id: int | None = None) -> Verbalizer:
        """Load a verbalizer file, or a built-in one by name (``"sst2"`` -> ``verbalizers/sst2.json``).

        Files with per-pattern entries need ``pattern_id`` unless they hold one pattern; a
        ``pattern_id`` for a file with one shared ``labels`` table is accepted and ignored, so
        every pattern of a task can load the same file.
        """
        path = _resolve(path_or_name)
        data = _read(path)
        if not isinstance(data, Mapping):
            raise VerbalizerError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
        unknown = set(data) - _FILE_KEYS
        if unknown:
            raise VerbalizerError(f"{path}: unknown keys {sorted(map(str, unknown))}; allowed: {sorted(_FILE_KEYS)}")
        if ("labels" in data) == ("patterns" in data):
            raise VerbalizerError(f"{path}: give exactly one of 'labels' or 'patterns'")
        if "labels" in data:
            return cls(_as_mapping(data["labels"], path), source=str(path))
        patterns = {str(k): v for k, v in _as_mapping(data["patterns"], path).items()}
        if pattern_id is None:
            if len(patterns) != 1:
                raise VerbalizerError(f"{path} has patterns {sorted(patterns)}; pass pattern_id")
            (key,) = patterns
        else:
            key = str(pattern_id)
            if key not in patterns:
                raise VerbalizerError(f"{path} has no pattern {pattern_id}; known pattern ids: {sorted(patterns)}")
        return cls(_as_mapping(patterns[key], path), source=f"{path} (pattern {key})")

    def tokenize(self, tokenizer: Any, *, continuation: bool = False) -> VerbalizedLabels:
        """Encode every word with ``tokenizer`` and check the result.

        By default a word is encoded on its own, as GLM does. ``continuation=True`` encodes it
        as it reads in running text right after other text (see
        :func:`glm_tune.cloze.template.encode_piece`): with the Chinese SentencePiece model the words
        then lose the word-start marker, and all 15 TNEWS words, 居家 included, are one piece.
        English tokenizers give the same ids either way.

        Errors name the label, the word and the tokenizer: a word with an unknown piece, a word
        that encodes to nothing or to a special token, and two words with the same ids (for
        instance ``" Yes"``/``" yes"`` under an uncased vocabulary).
        """
        who = _describe_tokenizer(tokenizer)
        where = f" (verbalizer {self.source})" if self.source else ""
        specials = {getattr(tokenizer, a, None) for a in _SPECIAL_ATTRS} - {None}
        seen: dict[tuple[int, ...], tuple[str, str]] = {}
        token_ids = []
        for label, words in self.words.items():
            per_label = []
            for word in words:
                ids = tuple(encode_piece(tokenizer, word, continuation))
                if not ids:
                    raise VerbalizerError(f"label {label!r}: word {word!r} encodes to no tokens with {who}{where}")
                if tokenizer.count_unknown(list(ids)):
                    raise VerbalizerError(
                        f"label {label!r}: word {word!r} contains a piece unknown to {who} "
                        f"(ids {list(ids)}){where}; choose another word"
                    )
                if specials.intersection(ids):
                    raise VerbalizerError(
                        f"label {label!r}: word {word!r} encodes to a special token with {who} "
                        f"(ids {list(ids)}){where}"
                    )
                if ids in seen:
                    other_label, other_word = seen[ids]
                    raise VerbalizerError(
                        f"labels {other_label!r} and {label!r}: words {other_word!r} and {word!r} "
                        f"encode to the same ids {list(ids)} with {who}{where}"
                    )
                seen[ids] = (label, word)
                per_label.append(ids)
            token_ids.append(tuple(per_label))
        return VerbalizedLabels(labels=self.labels, words=tuple(self.words.values()), token_ids=tuple(token_ids))


def _resolve(path_or_name: str | Path) -> Path:
    path = Path(path_or_name)
    if path.is_file():
        return path
    if path.suffix == "" and path.name == str(path_or_name):
        builtin = resources.files("glm_tune.verbalizers")
        for suffix in (".json", ".yaml", ".yml"):
            candidate = builtin / f"{path.name}{suffix}"
            if candidate.is_file():
                return Path(str(candidate))
        known = sorted(
            p.name.rsplit(".", 1)[0] for p in builtin.iterdir() if p.name.endswith((".json", ".yaml", ".yml"))
        )
        raise VerbalizerError(
            f"no verbalizer file {str(path_or_name)!r} and no built-in verbalizer of that name; built-in: {known}"
        )
    raise VerbalizerError(f"verbalizer file {str(path)!r} not found")


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:  # pragma: no cover - PyYAML comes with transformers
            raise VerbalizerError(f"{path}: reading YAML needs PyYAML (pip install pyyaml)") from err
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise VerbalizerError(f"{path}: invalid YAML: {err}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise VerbalizerError(f"{path}: invalid JSON: {err}") from err


def _as_mapping(value: Any, path: Path) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise VerbalizerError(f"{path}: expected a mapping, got {type(value).__name__}")
    return value
