"""Cloze templates: turn a data row (a dict) into GLM's ``[CLS] A B <eos>`` with one blank.

Three ways to write a template, all giving a :class:`Template`:

1. A format string. ``{name}`` is the row's field ``name``, ``[MASK]`` / ``[sMASK]`` /
   ``[gMASK]`` is the blank, ``{{`` and ``}}`` are literal braces. It is parsed by a small
   scanner, never evaluated::

       sst2 = Template("{sentence} It was [MASK].")
       tnews = Template("标题：{sentence}关键词：{keywords}类别：[MASK]")

2. A list of pieces, GLM/PET style: strings (parsed as above), :data:`MASK` and friends,
   :class:`Field`. Part B is a second argument; in GLM the A/B boundary only decides which side
   loses tokens first when a row is too long (its cloze inputs have no ``[SEP]``)::

       sst2 = Template(["{sentence}", " It was", MASK, "."])
       rte = Template('"{hypothesis}" ?', '[MASK], "{premise}"')       # RTE pattern 0

3. A function ``row -> parts`` (or ``row -> (parts_a, parts_b)``) for patterns that need logic.
   Plain strings it returns are fixed text; text taken from the row is wrapped in :class:`Text`
   with its field name so that it may be shortened::

       def rte0(row):  # GLM's RTE pattern 0 exactly: the hypothesis loses its final punctuation
           return (['"', Text(remove_final_punc(row["hypothesis"]), "hypothesis"), '" ?'],
                   [MASK, ', "', Text(row["premise"], "premise"), '"'])
       rte = Template(rte0)

A template has exactly one blank. Templates with several blanks are out of scope for
classification (one label per row is read from one blank); fill several blanks in turn with
generation instead. Static templates are checked when built, function templates each time they
render.

**Encoding.** Each piece is tokenized on its own and the ids are concatenated, so a field's
tokens never merge with the text around it and truncation can cut a field token-wise. To keep
the result equal to encoding the whole rendered string where the tokenizer allows it:

- whitespace at the end of a piece is moved to the start of the next one, so BPE vocabularies
  see ``" It"`` as in running text; whitespace right before a blank is dropped, as GLM's blank
  command tokens strip the spaces on their left;
- a piece that continues text (not the first piece, not right after a blank) is encoded as a
  continuation (:func:`encode_piece`): the Chinese SentencePiece model then leaves out the word-start marker ``▁`` it
  puts in front of every separately encoded string. GLM's original code encoded each part
  plainly and so fed ``▁标题 : ... ▁ 关键词 : ... ▁类别 :`` where the whole string gives
  ``▁标题 : ... 关键词 : ... 类别 :``. Text right after a blank starts a fresh segment, as the
  tokenizer treats the whole string.

What still differs from encoding the whole string are tokens that would straddle a piece
boundary there (on FewCLUE TNEWS 8% of rows, e.g. ``关键词：4s店`` -> ``:4``, or
``小情人类别`` -> ``情 人类 别``); keeping fields apart is the point of encoding by piece.

**Truncation** never touches the blank or the template's own text. ``shrink`` names the fields
that may lose tokens (default: every field), ``truncation`` the policy: ``"longest_first"`` (one
token at a time from the currently longest shrinkable field; GLM/PET do this between Part A and
Part B and then cut the last shortenable piece of the longer part, which is the same whenever
each part holds one field, as in RTE or AFQMC) or ``"in_order"`` (empty the first listed field
before touching the next), and ``side`` where tokens go
(``"right"``: from the end, as GLM does; ``"left"``: from the start). A row that cannot fit even
with every shrinkable field emptied raises :class:`TruncationError`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import partial
from typing import Any, Literal, Union

from glm_tune.constants import GMASK_TOKEN, MASK_TOKEN, SMASK_TOKEN
from glm_tune.errors import GLMTuneError

Truncation = Literal["longest_first", "in_order"]
Side = Literal["right", "left"]


class TemplateError(GLMTuneError):
    """A template is malformed, or a row does not fit it."""


class MissingFieldError(TemplateError):
    """A row lacks a field the template uses."""


class TruncationError(TemplateError):
    """A row cannot fit ``max_length`` without cutting text that may not shrink."""


class UnknownPatternError(TemplateError):
    """A pattern id a task does not define."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Blank:
    """The blank: one of GLM's mask command tokens."""

    token: str

    def __repr__(self) -> str:
        return self.token


MASK = Blank(MASK_TOKEN)
"""A short blank (GLM's NLU cloze tasks use it)."""
SMASK = Blank(SMASK_TOKEN)
"""A sentence-level blank."""
GMASK = Blank(GMASK_TOKEN)
"""A generation blank (the rest of the document)."""
_BLANKS = {b.token: b for b in (MASK, SMASK, GMASK)}
_BLANK_ID_ATTRS = {"[MASK]": "mask_token_id", "[sMASK]": "smask_token_id", "[gMASK]": "gmask_token_id"}
_COMMAND_ID_ATTRS = ("cls_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "sop_token_id", "eop_token_id")


@dataclass(frozen=True)
class Field:
    """A row field in a list template (the same as ``"{name}"``)."""

    name: str


@dataclass(frozen=True)
class Text:
    """Text a function template returns; ``field`` names the row field it comes from.

    Text with a ``field`` may be shortened under the template's ``shrink`` policy; text
    without one is fixed, like the template's own words.
    """

    text: str
    field: str | None = None


Part = Union[str, Field, Blank, Text]
Parts = Union[str, Sequence[Part]]
PatternFunction = Callable[[Mapping[str, Any]], Union[Sequence[Part], tuple[Sequence[Part], Sequence[Part]]]]

# Left context for encoding a piece as a continuation: a private-use character, which no GLM
# vocabulary has a piece for, so no token joins it to the text after it (SentencePiece makes it
# <unk> and then treats the text as the middle of a line, without a word-start marker).
_ANCHOR = "\ue000"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SCAN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\[(?:MASK|sMASK|gMASK)\]|[{}]")


def parse(template: str) -> list[Text | Field | Blank]:
    """Split a format string into literal text, fields and blanks (no ``eval``)."""
    parts: list[Text | Field | Blank] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append(Text("".join(literal)))
            literal.clear()

    pos = 0
    for match in _SCAN.finditer(template):
        literal.append(template[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token in _BLANKS:
            flush()
            parts.append(_BLANKS[token])
        elif token in ("{", "}"):
            raise TemplateError(
                f"unmatched {token!r} at position {match.start()} in template {template!r}; "
                f"write {token * 2!r} for a literal brace"
            )
        else:
            name = match.group(1).strip()
            if not _FIELD_NAME.match(name):
                raise TemplateError(f"bad field name {match.group(0)!r} in template {template!r}")
            flush()
            parts.append(Field(name))
    literal.append(template[pos:])
    flush()
    return [p for p in parts if not (isinstance(p, Text) and not p.text)]


def lowercase_first(text: str) -> str:
    """``"The cat"`` -> ``"the cat"`` (GLM's COPA choices)."""
    return text[:1].lower() + text[1:]


def remove_final_punc(text: str) -> str:
    """Strip trailing ASCII punctuation, as GLM's PVPs do (``string.punctuation``)."""
    return text.rstrip(string.punctuation)


@dataclass
class Rendered:
    """A row rendered into Part A / Part B pieces (texts and the one blank)."""

    parts_a: list[Text | Blank]
    parts_b: list[Text | Blank] | None

    @property
    def text(self) -> str:
        """The plain text of A then B, the blank written as its token."""
        pieces = self.parts_a + (self.parts_b or [])
        return "".join(p.token if isinstance(p, Blank) else p.text for p in pieces)


@dataclass
class EncodedCloze:
    """One row as GLM's cloze context: ``[CLS] A B <eos>`` with the blank at ``mask_position``."""

    input_ids: list[int]
    mask_position: int
    truncated: int = 0
    """Tokens removed to fit ``max_length`` (0 when the row fitted)."""
    truncated_fields: dict[str, int] = dataclass_field(default_factory=dict)
    """Tokens removed per field."""
    part_b_start: int | None = None
    """Index in ``input_ids`` where Part B begins (None without a Part B)."""
    text: str = ""
    """The rendered text before truncation, for inspection."""


class Template:
    """A cloze pattern over a data row; see the module docstring for the three ways to write one.

    Args:
        parts_a: Part A: a format string, a list of pieces, or a function ``row -> parts``
            (which may return ``(parts_a, parts_b)``).
        parts_b: Part B, for static templates.
        shrink: the fields that may lose tokens when a row is too long, in the order the
            ``"in_order"`` policy empties them; ``None`` means every field, in order of
            appearance.
        truncation: ``"longest_first"`` or ``"in_order"``.
        side: ``"right"`` cuts a field's last tokens, ``"left"`` its first ones.
    """

    def __init__(
        self,
        parts_a: Parts | PatternFunction,
        parts_b: Parts | None = None,
        *,
        shrink: Sequence[str] | None = None,
        truncation: Truncation = "longest_first",
        side: Side = "right",
    ) -> None:
        if truncation not in ("longest_first", "in_order"):
            raise TemplateError(f"unknown truncation {truncation!r}; use 'longest_first' or 'in_order'")
        if side not in ("right", "left"):
            raise TemplateError(f"unknown side {side!r}; use 'right' or 'left'")
        if isinstance(shrink, str):
            raise TemplateError(f"shrink takes a list of field names, got the string {shrink!r}")
        self.truncation: Truncation = truncation
        self.side: Side = side
        self.shrink: tuple[str, ...] | None = tuple(shrink) if shrink is not None else None
        self._function: PatternFunction | None = None
        self._a: list[Text | Field | Blank] = []
        self._b: list[Text | Field | Blank] | None = None
        if callable(parts_a):
            if parts_b is not None:
                raise TemplateError("a function template returns its own Part B: pass (parts_a, parts_b) from it")
            self._function = parts_a
            return
        self._a = _static_parts(parts_a)
        self._b = _static_parts(parts_b) if parts_b is not None else None
        _check_one_blank(self._a, self._b, lambda: f"template {self!r}")
        names = self.fields
        unknown = [n for n in self.shrink or () if n not in names]
        if unknown:
            raise TemplateError(f"shrink names {unknown}, which template {self!r} does not use; its fields: {names}")

    @property
    def fields(self) -> list[str]:
        """The row fields a static template reads, in order (empty for function templates)."""
        names: list[str] = []
        for p in self._a + (self._b or []):
            if isinstance(p, Field) and p.name not in names:
                names.append(p.name)
        return names

    def __repr__(self) -> str:
        if self._function is not None:
            return f"Template({getattr(self._function, '__qualname__', self._function)})"

        def show(parts: list[Text | Field | Blank]) -> str:
            out = []
            for p in parts:
                if isinstance(p, Field):
                    out.append("{" + p.name + "}")
                elif isinstance(p, Blank):
                    out.append(p.token)
                else:
                    out.append(p.text.replace("{", "{{").replace("}", "}}"))
            return repr("".join(out))

        b = f", {show(self._b)}" if self._b is not None else ""
        return f"Template({show(self._a)}{b})"

    def render(self, row: Mapping[str, Any], row_id: Any = None) -> Rendered:
        """Fill the template with ``row``; errors name the row (``row_id``, or its id/idx field)."""
        return self._render(row, partial(_row_name, row, row_id))

    def _render(self, row: Mapping[str, Any], who: Callable[[], str]) -> Rendered:
        if self._function is None:
            return Rendered(_fill(self._a, row, who), _fill(self._b, row, who) if self._b is not None else None)
        try:
            out = self._function(row)
        except KeyError as err:
            raise MissingFieldError(
                f"{who()} has no field {err.args[0]!r} (used by {self!r}); its fields: {list(row)}"
            ) from err
        if isinstance(out, tuple):
            if len(out) != 2:
                raise TemplateError(f"{self!r} returned a tuple of {len(out)}; return parts or (parts_a, parts_b)")
            a, b = _function_parts(out[0], self), (_function_parts(out[1], self) or None)
        else:
            a, b = _function_parts(out, self), None
        _check_one_blank(a, b, lambda: f"{self!r} on {who()}")
        return Rendered(a, b)

    def encode(
        self, row: Mapping[str, Any], tokenizer: Any, max_length: int, *, row_id: Any = None, reserve: int = 0
    ) -> EncodedCloze:
        """Render ``row`` and encode it as ``[CLS] A B <eos>``, shortening fields to fit.

        ``max_length`` bounds ``len(input_ids) + reserve``; ``reserve`` keeps room for what a
        caller appends in the same sequence (GLM counts its ``[sop]`` on the single-token path,
        ``reserve=1``, and the answer plus ``[sop]`` on its one-sequence-per-candidate path).
        """
        who = partial(_row_name, row, row_id)  # built only for an error message
        rendered = self._render(row, who)
        pieces = [(p, False) for p in rendered.parts_a] + [(p, True) for p in rendered.parts_b or []]
        token_lists = _tokenize(pieces, tokenizer, who)
        specials = 2 + reserve  # [CLS] and <eos>
        total = specials + sum(len(t) for t in token_lists)
        removed: dict[str, int] = {}
        if total > max_length:
            removed = self._truncate(pieces, token_lists, total - max_length, who, max_length, specials)

        ids = [tokenizer.cls_token_id]
        mask_position = part_b_start = -1
        for (piece, in_b), tokens in zip(pieces, token_lists):
            if in_b and part_b_start < 0:
                part_b_start = len(ids)
            if isinstance(piece, Blank):
                mask_position = len(ids)
            ids.extend(tokens)
        if rendered.parts_b is not None and part_b_start < 0:
            part_b_start = len(ids)
        ids.append(tokenizer.eos_token_id)
        return EncodedCloze(
            input_ids=ids,
            mask_position=mask_position,
            truncated=sum(removed.values()),
            truncated_fields=removed,
            part_b_start=part_b_start if rendered.parts_b is not None else None,
            text=rendered.text,
        )

    def _shrinkable(self, pieces: list[tuple[Text | Blank, bool]]) -> list[tuple[int, str]]:
        """(index, field) of the pieces that may lose tokens, in the policy's order."""
        found = [(i, p.field) for i, (p, _) in enumerate(pieces) if isinstance(p, Text) and p.field is not None]
        if self.shrink is None:
            return found
        rank = {name: r for r, name in enumerate(self.shrink)}
        return sorted(((i, name) for i, name in found if name in rank), key=lambda item: rank[item[1]])

    def _truncate(
        self,
        pieces: list[tuple[Text | Blank, bool]],
        token_lists: list[list[int]],
        excess: int,
        who: Callable[[], str],
        max_length: int,
        specials: int,
    ) -> dict[str, int]:
        shrinkable = self._shrinkable(pieces)
        available = sum(len(token_lists[i]) for i, _ in shrinkable)
        if available < excess:
            total = specials + sum(len(t) for t in token_lists)
            raise TruncationError(
                f"{who()} cannot fit max_length={max_length}: it encodes to {total} tokens, of which "
                f"{total - available} may not shrink (template text, blank, {specials} special/reserved) "
                f"and {available} may (fields {sorted({name for _, name in shrinkable})}); {self!r}"
            )
        cut = {i: 0 for i, _ in shrinkable}
        if self.truncation == "in_order":
            for i, _ in shrinkable:
                cut[i] = min(len(token_lists[i]), excess)
                excess -= cut[i]
        else:
            # One token at a time from the longest remaining field; ties go to the later field,
            # as GLM cuts the last shortenable piece.
            for _ in range(excess):
                longest = max(cut, key=lambda i: (len(token_lists[i]) - cut[i], i))
                cut[longest] += 1
        removed: dict[str, int] = {}
        for i, name in shrinkable:
            n = cut[i]
            if n:
                tokens = token_lists[i]
                token_lists[i] = tokens[: len(tokens) - n] if self.side == "right" else tokens[n:]
                removed[name] = removed.get(name, 0) + n
        return removed


class Patterns(Mapping[int, Template]):
    """A task's templates by pattern id: ``Patterns({0: Template(...), 1: Template(...)})``.

    A list is numbered from 0. Looking up an unknown id raises :class:`UnknownPatternError`
    listing the known ids.
    """

    def __init__(self, templates: Mapping[int, Template] | Sequence[Template]) -> None:
        items = templates.items() if isinstance(templates, Mapping) else enumerate(templates)
        self._templates: dict[int, Template] = {}
        for key, template in items:
            if not isinstance(key, int) or isinstance(key, bool):
                raise TemplateError(f"pattern ids are integers, got {key!r}")
            if not isinstance(template, Template):
                raise TemplateError(f"pattern {key} is {type(template).__name__}, not a Template")
            self._templates[key] = template
        if not self._templates:
            raise TemplateError("Patterns needs at least one template")

    def __getitem__(self, pattern_id: int) -> Template:
        try:
            return self._templates[pattern_id]
        except KeyError:
            known = sorted(self._templates)
            raise UnknownPatternError(f"unknown pattern id {pattern_id!r}; known ids: {known}") from None

    # Mapping's own ``in`` and ``get`` expect a KeyError, which UnknownPatternError is not
    def __contains__(self, pattern_id: object) -> bool:
        return pattern_id in self._templates

    def get(self, pattern_id: int, default: Template | None = None) -> Template | None:
        return self._templates.get(pattern_id, default)

    def __iter__(self) -> Iterator[int]:
        return iter(self._templates)

    def __len__(self) -> int:
        return len(self._templates)

    def __repr__(self) -> str:
        return f"Patterns({self._templates!r})"


def _static_parts(parts: Parts) -> list[Text | Field | Blank]:
    if isinstance(parts, str):
        return parse(parts)
    out: list[Text | Field | Blank] = []
    for p in parts:
        if isinstance(p, str):
            out.extend(parse(p))
        elif isinstance(p, (Field, Blank)):
            out.append(p)
        elif isinstance(p, Text) and p.field is None:
            out.append(p)
        else:
            raise TemplateError(f"a template piece must be a string, Field or blank, got {p!r}")
    return out


def _function_parts(parts: Sequence[Part], template: Template) -> list[Text | Blank]:
    if isinstance(parts, str):
        raise TemplateError(f"{template!r} returned a string; return a list of pieces")
    out: list[Text | Blank] = []
    for p in parts:
        if isinstance(p, str):
            if p:
                out.append(Text(p))
        elif isinstance(p, (Text, Blank)):
            out.append(p)
        else:
            raise TemplateError(f"{template!r} returned {p!r}; use strings, Text(value, field) and MASK/SMASK/GMASK")
    return out


def _check_one_blank(a: Sequence[object], b: Sequence[object] | None, what: Callable[[], str]) -> None:
    blanks = [p for p in [*a, *(b or [])] if isinstance(p, Blank)]
    if len(blanks) != 1:
        found = ", ".join(map(repr, blanks)) if blanks else "none"
        raise TemplateError(
            f"{what()} needs exactly one blank ([MASK], [sMASK] or [gMASK]); found {len(blanks)} ({found}). "
            "Templates with several blanks are out of scope for classification: one label is read "
            "from one blank (fill several blanks in turn with generation)"
        )


def _row_name(row: Mapping[str, Any], row_id: Any) -> str:
    if row_id is None:
        row_id = next((row[k] for k in ("idx", "id", "guid") if k in row), None)
    shown = repr(dict(row))
    if len(shown) > 200:
        shown = shown[:200] + "...}"
    return f"row {row_id!r} {shown}" if row_id is not None else f"row {shown}"


def _fill(parts: list[Text | Field | Blank], row: Mapping[str, Any], who: Callable[[], str]) -> list[Text | Blank]:
    out: list[Text | Blank] = []
    for p in parts:
        if not isinstance(p, Field):
            out.append(p)
            continue
        if p.name not in row:
            raise MissingFieldError(f"{who()} has no field {p.name!r}; its fields: {list(row)}")
        value = row[p.name]
        if not isinstance(value, str):
            raise TemplateError(f"field {p.name!r} of {who()} is {type(value).__name__}, not text")
        out.append(Text(value, p.name))
    return out


def _blank_id(tokenizer: Any, blank: Blank) -> int:
    blank_id = getattr(tokenizer, _BLANK_ID_ATTRS[blank.token], None)
    if blank_id is None:
        raise TemplateError(f"tokenizer {type(tokenizer).__name__} has no {blank.token} token")
    return blank_id


def _tokenize(pieces: list[tuple[Text | Blank, bool]], tokenizer: Any, who: Callable[[], str]) -> list[list[int]]:
    """Token ids of each piece (the blank's id for the blank), laid out to match the whole string."""
    texts: list[str | None] = [p.text if isinstance(p, Text) else None for p, _ in pieces]
    # Whitespace at a piece's end belongs to the next piece (BPE's " word"); before a blank it
    # goes, as GLM's blank tokens strip their left side.
    for i in range(len(texts) - 1):
        text = texts[i]
        if text is None:
            continue
        stripped = text.rstrip()
        if stripped != text:
            nxt = texts[i + 1]
            if nxt is not None:
                texts[i + 1] = text[len(stripped) :] + nxt
            texts[i] = stripped
    blank_ids = {getattr(tokenizer, a, None) for a in _BLANK_ID_ATTRS.values()} - {None}
    command_ids = blank_ids | {getattr(tokenizer, a, None) for a in _COMMAND_ID_ATTRS} - {None}
    out: list[list[int]] = []
    continues = False  # text before this piece and after the last blank
    for (piece, _), text in zip(pieces, texts):
        if isinstance(piece, Blank):
            out.append([_blank_id(tokenizer, piece)])
            continues = False
            continue
        ids = encode_piece(tokenizer, text, continues) if text else []
        field_name = piece.field
        # The tokenizer turns command-token strings into command ids. In data that would be a
        # second blank or a stray [SEP]/<eos>; the template's own text may hold [SEP] on purpose.
        if field_name is not None and command_ids.intersection(ids):
            found = ", ".join(tokenizer.decode([i]) for i in sorted(command_ids.intersection(ids)))
            raise TemplateError(f"field {field_name!r} of {who()} holds command-token text ({found}); clean the data")
        if blank_ids.intersection(ids):
            raise TemplateError(
                f"text {text!r} (on {who()}) contains a blank token; a template has one blank, "
                "written as MASK/SMASK/GMASK"
            )
        out.append(ids)
        continues = continues or bool(text)
    return out


def encode_piece(tokenizer: Any, text: str, continues: bool) -> list[int]:
    """``text``'s ids without special tokens; as a continuation of earlier text when ``continues``.

    A continuation is what ``text`` becomes in the middle of a longer string, at a clean
    boundary: for the Chinese SentencePiece model, without the word-start marker ``▁`` that a
    separate encode puts first (``类别：`` -> ``类别 :`` rather than ``▁类别 :``); the other GLM
    tokenizers give the same ids either way. It is computed by encoding ``text`` after
    :data:`_ANCHOR` and dropping the anchor's ids, and kept only when it spells the same text as
    the separate encode (so a tokenizer that swallows the anchor together with the text, as
    WordPiece does with an unknown word, falls back to the separate encode).
    """
    alone = list(tokenizer.encode(text, add_special_tokens=False))
    if not continues:
        return alone
    base = list(tokenizer.encode(_ANCHOR, add_special_tokens=False))
    joined = list(tokenizer.encode(_ANCHOR + text, add_special_tokens=False))
    rest = joined[len(base) :]
    if joined[: len(base)] == base and (rest == alone or tokenizer.decode(rest) == tokenizer.decode(alone)):
        return rest
    return alone
