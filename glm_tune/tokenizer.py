"""The four GLM tokenizers behind one interface: encode and decode, with GLM's command tokens.

=================  =====================  =====================================================
kind               class                  checkpoints
=================  =====================  =====================================================
``chinese-sp``     GLMChineseTokenizer    glm-large-chinese, glm-10b-chinese (cog-pretrain.model)
``bert``           GLMBertTokenizer       glm-large (BERT uncased WordPiece, vocab.txt)
``gpt2``           GLMGPT2Tokenizer       glm-2b, glm-10b (GPT-2 byte-level BPE)
``roberta``        GLMRobertaTokenizer    glm-roberta-large (RoBERTa byte-level BPE)
=================  =====================  =====================================================

Kind ``sentencepiece`` (``GLMSentencePieceTokenizer``) is any SentencePiece model
``tokenizer.model`` of N pieces with the Chinese layout of command tokens from id N on, for GLMs
trained from scratch (:mod:`glm_tune.pretraining.tokenizer_training` makes one).

Every tokenizer is a vocabulary of text pieces plus GLM's *command tokens* at fixed ids (see
``LAYOUTS`` below and GLM-NOTES part 1 section 8). ``encode`` splits the text on the command
tokens' literal strings (``[MASK]``, ``[sMASK]``, ``[gMASK]``, ``[CLS]``, ``<|startofpiece|>``,
...), encodes each piece of text between them on its own and puts the command ids in between, as
the Hugging Face port does. Blank tokens eat the whitespace on their left (the original GLM
code's ``lstrip``), so ``"It was [MASK]."`` gives ``It``, ``Ġwas``, ``[MASK]``, ``.`` with the
byte-level BPEs; SentencePiece and WordPiece drop that whitespace anyway. A text asking for a
blank the tokenizer lacks (``[sMASK]`` / ``[gMASK]`` with glm-large or glm-roberta-large) raises
instead of being spelled out as word pieces.

**Unknown text.** The Chinese SentencePiece model maps characters it lacks (rare characters,
emoji) to piece 0, ``<unk>``; WordPiece maps unknown words to ``[UNK]``; the byte-level BPEs never
produce an unknown. ``decode`` keeps unknowns visible (SentencePiece's `` ⁇ ``, ``[UNK]``) even
with ``skip_special_tokens=True``, and :meth:`GLMTokenizer.count_unknown` /
:meth:`GLMTokenizer.unknown_pieces` tell how many and which characters were lost.

**Backends.** The Chinese tokenizer calls ``sentencepiece`` directly: the reference ids are
plain ``sp.encode`` of each piece of text. The English ones run the Hugging Face ``tokenizers``
pipelines that ``transformers``' fast BERT / GPT-2 / RoBERTa tokenizers are made of, built here
from the vocabulary files. The ``transformers`` classes themselves are not used because their
constructors changed between 4.x and 5.x (5.x silently ignores 4.x's ``vocab_file=`` and builds
a 5-token vocabulary); command tokens are handled above the backend in any case.

The tensors that fill or score a blank are built from encoded ids in :mod:`glm_tune.cloze.inputs`;
each kind's files and command-token ids are data in :mod:`glm_tune.vocabulary`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

from glm_tune.constants import BLANKS
from glm_tune.errors import MissingFileError
from glm_tune.vocabulary import (
    ADDED_TOKENS,
    BERT_VOCAB,
    BLANK_ROLES,
    BPE_MERGES,
    BPE_VOCAB,
    KIND_OF_CLASS,
    KINDS,
    LAYOUTS,
    ROLES,
    SP_MODEL,
    SP_MODEL_FLAGAI,
    SP_TOKENIZER_MODEL,
    TOKENIZER_CONFIG,
    Kind,
    VocabularyLayout,
    sentencepiece_layout,
)


class GLMTokenizer:
    """A GLM tokenizer: text pieces plus command tokens at GLM's ids (use :func:`load_tokenizer`).

    Attributes ``cls_token_id``, ``eos_token_id``, ``pad_token_id``, ``sep_token_id``,
    ``mask_token_id``, ``smask_token_id``, ``gmask_token_id``, ``sop_token_id``,
    ``eop_token_id`` and ``unk_token_id`` hold the ids (``None`` for a token the model does not
    have); ``vocab_size`` counts text pieces and command tokens (the model's embedding has more
    rows: see :attr:`padded_vocab_size`).
    """

    def __init__(self, spec: VocabularyLayout, files: Mapping[str, Path], name_or_path: str) -> None:
        self.kind: str = spec.kind
        self.name_or_path = name_or_path
        self._spec = spec
        self._files = dict(files)
        self._check_vocabulary()

        ids: dict[str, Any] = {role: spec.roles[role][1] if role in spec.roles else None for role in ROLES}
        self.cls_token_id: int = ids["cls"]
        self.eos_token_id: int = ids["eos"]
        self.pad_token_id: int = ids["pad"]
        self.sep_token_id: int = ids["sep"]
        self.mask_token_id: int = ids["mask"]
        self.smask_token_id: int | None = ids["smask"]
        self.gmask_token_id: int | None = ids["gmask"]
        self.sop_token_id: int = ids["sop"]
        self.eop_token_id: int = ids["eop"]
        self.unk_token_id: int = ids["unk"]
        self.mask_token_ids: frozenset[int] = frozenset(ids[r] for r in BLANK_ROLES if ids[r] is not None)

        commands = {s: i for role, (s, i) in spec.roles.items() if role != "unk" or spec.unk_is_command}
        commands.update(spec.extra)
        self._commands: dict[str, int] = commands
        self._command_strings: dict[int, str] = {}
        for string, token_id in commands.items():
            self._command_strings.setdefault(token_id, string)
        self._blank_strings = {spec.roles[r][0] for r in BLANK_ROLES if r in spec.roles} | {
            s for s, i in spec.extra.items() if i in self.mask_token_ids
        }
        self._missing_blanks = [b for b in BLANKS if b not in commands]
        pattern = sorted([*commands, *self._missing_blanks], key=len, reverse=True)
        self._split_re = re.compile("(" + "|".join(re.escape(s) for s in pattern) + ")")
        self.vocab_size: int = spec.text_vocab_size + sum(1 for i in self._command_strings if i >= spec.text_vocab_size)

    # --- what each backend provides ---------------------------------------------------------

    def _check_vocabulary(self) -> None:
        """Raise when the files do not hold the vocabulary the fixed command ids assume."""
        raise NotImplementedError

    def _encode_text(self, text: str) -> list[int]:
        """Ids of a piece of text that holds no command token."""
        raise NotImplementedError

    def _unknown_surfaces(self, text: str) -> list[str]:
        """The characters of ``text`` (no command tokens) that became unknown pieces."""
        raise NotImplementedError

    def _piece(self, token_id: int) -> str:
        """The vocabulary piece of a text id."""
        raise NotImplementedError

    def _piece_id(self, piece: str) -> int | None:
        """The id of a vocabulary piece, ``None`` when there is none."""
        raise NotImplementedError

    def _decode_tokens(self, ids: list[int]) -> str:
        """Text of ids that may include command ids, which appear as their strings."""
        raise NotImplementedError

    # --- encoding -----------------------------------------------------------------------------

    def _split(self, text: str) -> list[str | int]:
        """``text`` as pieces of plain text and command ids, in order."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        parts: list[str | int] = []
        for i, chunk in enumerate(self._split_re.split(text)):
            if i % 2 == 0:
                if chunk:
                    parts.append(chunk)
                continue
            if chunk in self._missing_blanks:
                raise ValueError(
                    f"the {self.kind} tokenizer ({self._spec.models}) has no {chunk} token; "
                    f"its only blank is {self._spec.roles['mask'][0]}"
                )
            if chunk in self._blank_strings and parts and isinstance(parts[-1], str):
                parts[-1] = parts[-1].rstrip()
                if not parts[-1]:
                    parts.pop()
            parts.append(self._commands[chunk])
        return parts

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``: ``[CLS] text <eos>`` (``add_special_tokens``) or just ``text``.

        Command-token strings in the text (``[MASK]``, ``[sMASK]``, ``[gMASK]``, ``[CLS]``,
        ``<|startofpiece|>``, ...) become their ids; the text between them is encoded piece by
        piece. ``<eos>`` is ``[SEP]`` for BERT and ``</s>`` for RoBERTa.
        """
        ids: list[int] = [self.cls_token_id] if add_special_tokens else []
        for part in self._split(text):
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self._encode_text(part))
        if add_special_tokens:
            ids.append(self.eos_token_id)
        return ids

    def tokenize(self, text: str) -> list[str]:
        """Token strings of ``text`` without ``[CLS]`` / ``<eos>`` (pieces and command tokens)."""
        return [self._token(i) for i in self.encode(text, add_special_tokens=False)]

    def unknown_pieces(self, text: str) -> list[str]:
        """The stretches of ``text`` that encode to the unknown token, in order.

        The Chinese SentencePiece model folds a run of unknown characters into one ``<unk>``:
        ``"龘靐齉爩"`` gives ``["龘靐齉爩"]``.
        """
        return [s for part in self._split(text) if isinstance(part, str) for s in self._unknown_surfaces(part)]

    def count_unknown(self, text_or_ids: str | Sequence[int]) -> int:
        """How many unknown tokens a text encodes to (or a list of ids holds)."""
        if isinstance(text_or_ids, str):
            text_or_ids = self.encode(text_or_ids, add_special_tokens=False)
        return sum(1 for i in text_or_ids if int(i) == self.unk_token_id)

    # --- ids and tokens -----------------------------------------------------------------------

    @property
    def command_tokens(self) -> dict[str, int]:
        """Every command-token string recognised in text, with its id."""
        return dict(self._commands)

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the model's word embedding: ``vocab_size`` rounded up to a multiple of 128."""
        return -(-self.vocab_size // 128) * 128

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(kind={self.kind!r}, vocab_size={self.vocab_size}, name_or_path={self.name_or_path!r})"

    def _check_id(self, token_id: int) -> int:
        token_id = int(token_id)
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(
                f"token id {token_id} is outside the {self.kind} tokenizer's vocabulary (0..{self.vocab_size - 1}); "
                f"the model's embedding rows from {self.vocab_size} to {self.padded_vocab_size - 1} are padding "
                "and stand for no token"
            )
        return token_id

    def _token(self, token_id: int) -> str:
        token_id = self._check_id(token_id)
        return self._command_strings.get(token_id) or self._piece(token_id)

    def _token_id(self, token: str) -> int:
        if token in self._commands:
            return self._commands[token]
        if token in self._missing_blanks:
            raise ValueError(f"the {self.kind} tokenizer ({self._spec.models}) has no {token} token")
        piece_id = self._piece_id(token)
        return self.unk_token_id if piece_id is None else piece_id

    def convert_ids_to_tokens(self, ids: int | Sequence[int] | torch.Tensor) -> str | list[str]:
        """Token string of an id, or of each id of a list."""
        if isinstance(ids, int) or (isinstance(ids, torch.Tensor) and ids.dim() == 0):
            return self._token(int(ids))
        return [self._token(int(i)) for i in ids]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Id of a token string (a command token or a vocabulary piece), or of each of a list.

        A piece outside the vocabulary gives ``unk_token_id``; a blank the tokenizer lacks raises.
        """
        if isinstance(tokens, str):
            return self._token_id(tokens)
        return [self._token_id(t) for t in tokens]

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = False) -> str:
        """Text of token ids; ``skip_special_tokens`` leaves out the command tokens.

        Unknown tokens are never dropped: SentencePiece writes `` ⁇ ``, WordPiece ``[UNK]``;
        use :meth:`count_unknown` on the ids to know how many there are. Ids beyond
        ``vocab_size`` (the embedding's padding rows) raise.
        """
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        checked = [self._check_id(i) for i in ids]
        if skip_special_tokens:
            checked = [i for i in checked if i not in self._command_strings or i == self.unk_token_id]
        return self._decode_tokens(checked)

    # --- saving -------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> list[Path]:
        """Write the vocabulary files, ``tokenizer_config.json`` and ``added_tokens.json``.

        The config names the hub's class (``GLMChineseTokenizer``, ``GLMBertTokenizer``,
        ``GLMGPT2Tokenizer``, ``GLMRobertaTokenizer``) so :func:`load_tokenizer` reloads the
        directory; ``added_tokens.json`` lists the command tokens beyond the text vocabulary.
        Returns the paths written.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self._spec.files:
            target = out / name
            if self._files[name].resolve() != target.resolve():
                shutil.copyfile(self._files[name], target)
            written.append(target)
        spec = self._spec
        config: dict[str, Any] = {"tokenizer_class": spec.tokenizer_class}
        for role in ("eos", "pad", "cls", "mask", "unk", "sep"):
            config[f"{role}_token"] = spec.roles[role][0]
        extra_roles = [r for r in ("sop", "eop", "gmask", "smask") if r in spec.roles]
        config["additional_special_tokens"] = [spec.roles[r][0] for r in extra_roles]
        if spec.kind == "bert":
            config["do_lower_case"] = True
        added = {s: i for i, s in sorted(self._command_strings.items()) if i >= spec.text_vocab_size}
        for name, content in ((TOKENIZER_CONFIG, config), (ADDED_TOKENS, added)):
            (out / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(out / name)
        return written


class GLMChineseTokenizer(GLMTokenizer):
    """glm-large-chinese / glm-10b-chinese: SentencePiece ``cog-pretrain.model`` (50000 pieces).

    Text is plain ``sp.encode``, as the Hugging Face port computes it: every piece of text
    between command tokens gets its own word-start marker ``▁``.
    """

    def __init__(self, model_file: str | Path, name_or_path: str | None = None) -> None:
        path = Path(model_file)
        self._sp = spm.SentencePieceProcessor(model_file=str(path))
        super().__init__(LAYOUTS["chinese-sp"], {SP_MODEL: path}, name_or_path or str(path.parent))

    def _check_vocabulary(self) -> None:
        size = self._sp.get_piece_size()
        if size != self._spec.text_vocab_size or self._sp.unk_id() != 0:
            raise ValueError(
                f"{self._files[SP_MODEL]} has {size} pieces and <unk> at {self._sp.unk_id()}; "
                "GLM's cog-pretrain.model has 50000 pieces with <unk> at 0"
            )

    def _encode_text(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def _unknown_surfaces(self, text: str) -> list[str]:
        # For an unknown piece SentencePiece returns the (normalised) characters it covers.
        return [piece for i, piece in zip(self._sp.encode(text), self._sp.encode(text, out_type=str)) if i == 0]

    def _piece(self, token_id: int) -> str:
        return self._sp.id_to_piece(token_id)

    def _piece_id(self, piece: str) -> int | None:
        token_id = self._sp.piece_to_id(piece)
        return None if token_id == 0 and piece != "<unk>" else token_id

    def _decode_tokens(self, ids: list[int]) -> str:
        # Each run of text ids is decoded on its own, as it was encoded on its own.
        out, run = [], []
        for token_id in ids:
            if token_id in self._command_strings:
                out += [self._sp.decode(run), self._command_strings[token_id]]
                run = []
            else:
                run.append(token_id)
        out.append(self._sp.decode(run))
        return "".join(out)


class GLMSentencePieceTokenizer(GLMChineseTokenizer):
    """Any SentencePiece model ``tokenizer.model`` of N pieces, with ``<unk>`` at piece 0.

    The command tokens follow the text pieces in the Chinese GLM's order: ``<|endoftext|>`` N
    (eos and pad), ``[SEP]`` N+1, ``[CLS]`` N+2, ``[MASK]`` N+3, ``[UNUSED1]`` N+4,
    ``[UNUSED2]`` N+5, ``<|startofpiece|>`` N+6, ``<|endofpiece|>`` N+7, ``[sMASK]`` N+8,
    ``[gMASK]`` N+9. Encoding, decoding and unknown counting are the Chinese tokenizer's: only
    the vocabulary size differs (``cog-pretrain.model`` is the case N = 50000).
    """

    def __init__(self, model_file: str | Path, name_or_path: str | None = None) -> None:
        path = Path(model_file)
        self._sp = spm.SentencePieceProcessor(model_file=str(path))
        spec = sentencepiece_layout(self._sp.get_piece_size())
        GLMTokenizer.__init__(self, spec, {SP_TOKENIZER_MODEL: path}, name_or_path or str(path.parent))

    def _check_vocabulary(self) -> None:
        if self._sp.unk_id() != 0:
            raise ValueError(
                f"{self._files[SP_TOKENIZER_MODEL]} has <unk> at piece {self._sp.unk_id()}; GLM's SentencePiece "
                "tokenizers need it at 0 (train with unk_id=0, as glm_tune.pretraining.tokenizer_training does)"
            )
        commands = {s for s, _ in self._spec.roles.values()} | set(self._spec.extra)
        # A command string that is also a piece would decode ambiguously.
        clashes = sorted(c for c in commands if c != "<unk>" and self._sp.piece_to_id(c) != 0)
        if clashes:
            raise ValueError(
                f"{self._files[SP_TOKENIZER_MODEL]} has pieces {clashes}, which GLM reserves for command tokens"
            )


class _PipelineTokenizer(GLMTokenizer):
    """An English GLM tokenizer over a Hugging Face ``tokenizers`` pipeline."""

    def __init__(self, spec: VocabularyLayout, backend: Tokenizer, files: Mapping[str, Path], name_or_path: str) -> None:
        self._backend = backend
        self._vocab: dict[str, int] = backend.get_vocab(with_added_tokens=False)
        super().__init__(spec, files, name_or_path)

    def _check_vocabulary(self) -> None:
        spec = self._spec
        wrong = {p: self._vocab.get(p) for p, i in spec.anchors.items() if self._vocab.get(p) != i}
        if len(self._vocab) != spec.text_vocab_size or wrong:
            names = " + ".join(str(self._files[n]) for n in spec.files)
            raise ValueError(
                f"{names} is not the {spec.kind} vocabulary GLM's {spec.models} uses: "
                f"it has {len(self._vocab)} entries "
                f"(expected {spec.text_vocab_size}){f' and these pieces at other ids: {wrong}' if wrong else ''}"
            )

    def _encode_text(self, text: str) -> list[int]:
        return self._backend.encode(text, add_special_tokens=False).ids

    def _unknown_surfaces(self, text: str) -> list[str]:
        encoding = self._backend.encode(text, add_special_tokens=False)
        return [text[start:end] for i, (start, end) in zip(encoding.ids, encoding.offsets) if i == self.unk_token_id]

    def _piece(self, token_id: int) -> str:
        return self._backend.id_to_token(token_id)

    def _piece_id(self, piece: str) -> int | None:
        return self._vocab.get(piece)

    def _decode_tokens(self, ids: list[int]) -> str:
        # The pipeline's decoder joins WordPiece tokens with spaces or byte-decodes BPE tokens;
        # command tokens pass through as their ASCII strings.
        return self._backend.decoder.decode([self._token(i) for i in ids])


class GLMBertTokenizer(_PipelineTokenizer):
    """glm-large: BERT uncased WordPiece (``vocab.txt``), encoded ``[CLS] text [SEP]``."""

    def __init__(self, vocab_file: str | Path, name_or_path: str | None = None) -> None:
        path = Path(vocab_file)
        backend = Tokenizer(models.WordPiece.from_file(str(path), unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=True)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece()
        super().__init__(LAYOUTS["bert"], backend, {BERT_VOCAB: path}, name_or_path or str(path.parent))


def _byte_level_bpe(vocab_file: Path, merges_file: Path) -> Tokenizer:
    """GPT-2's byte-level BPE pipeline (no prefix space), as transformers' fast tokenizers build it."""
    backend = Tokenizer(models.BPE.from_file(str(vocab_file), str(merges_file)))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return backend


class GLMGPT2Tokenizer(_PipelineTokenizer):
    """glm-2b / glm-10b: GPT-2 byte-level BPE, encoded ``[CLS] text <|endoftext|>``."""

    def __init__(self, vocab_file: str | Path, merges_file: str | Path, name_or_path: str | None = None) -> None:
        vocab, merges = Path(vocab_file), Path(merges_file)
        files = {BPE_VOCAB: vocab, BPE_MERGES: merges}
        super().__init__(LAYOUTS["gpt2"], _byte_level_bpe(vocab, merges), files, name_or_path or str(vocab.parent))


class GLMRobertaTokenizer(_PipelineTokenizer):
    """glm-roberta-large: RoBERTa byte-level BPE, encoded ``<s> text </s>``; ``[MASK]`` means ``<mask>``."""

    def __init__(self, vocab_file: str | Path, merges_file: str | Path, name_or_path: str | None = None) -> None:
        vocab, merges = Path(vocab_file), Path(merges_file)
        files = {BPE_VOCAB: vocab, BPE_MERGES: merges}
        super().__init__(LAYOUTS["roberta"], _byte_level_bpe(vocab, merges), files, name_or_path or str(vocab.parent))


_CLASSES: dict[str, Any] = {
    "chinese-sp": GLMChineseTokenizer,
    "bert": GLMBertTokenizer,
    "gpt2": GLMGPT2Tokenizer,
    "roberta": GLMRobertaTokenizer,
    "sentencepiece": GLMSentencePieceTokenizer,
}


def _detect_kind(directory: Path) -> str:
    """The tokenizer kind of a directory, from its config's class or else its files."""
    config_file = directory / TOKENIZER_CONFIG
    if config_file.is_file():
        tokenizer_class = json.loads(config_file.read_text(encoding="utf-8")).get("tokenizer_class")
        if tokenizer_class in KIND_OF_CLASS:
            return KIND_OF_CLASS[tokenizer_class]
        if tokenizer_class is not None:
            raise ValueError(
                f"{config_file} names tokenizer_class {tokenizer_class!r}, which is not a GLM tokenizer "
                f"(expected one of {', '.join(s.tokenizer_class for s in LAYOUTS.values())}); pass kind= to override"
            )
    has = {name: (directory / name).is_file() for name in (SP_MODEL, BERT_VOCAB, BPE_VOCAB, BPE_MERGES)}
    has[SP_MODEL] = has[SP_MODEL] or (directory / SP_MODEL_FLAGAI).is_file()
    found = [k for k, present in (("chinese-sp", has[SP_MODEL]), ("bert", has[BERT_VOCAB])) if present]
    if (directory / SP_TOKENIZER_MODEL).is_file():
        found.append("sentencepiece")
    if has[BPE_VOCAB] and has[BPE_MERGES]:
        found.append("gpt2 or roberta")
    if not found:
        raise MissingFileError(
            f"no GLM tokenizer files in {directory}: looked for {TOKENIZER_CONFIG}, {SP_MODEL} or {SP_MODEL_FLAGAI} "
            "(Chinese), "
            f"{SP_TOKENIZER_MODEL} (SentencePiece), "
            f"{BERT_VOCAB} (BERT), {BPE_VOCAB} + {BPE_MERGES} (GPT-2 / RoBERTa)"
        )
    if found == ["gpt2 or roberta"]:
        raise ValueError(
            f"{directory} holds {BPE_VOCAB} + {BPE_MERGES} and no {TOKENIZER_CONFIG}: GPT-2 (glm-2b, glm-10b) and "
            "RoBERTa (glm-roberta-large) tokenizers both look like that, and their command ids differ; "
            "pass kind='gpt2' or kind='roberta'"
        )
    if len(found) > 1:
        raise ValueError(
            f"{directory} holds the files of several tokenizers ({', '.join(found)}); pass kind= to choose"
        )
    return found[0]


def _check_added_tokens(directory: Path, tokenizer: GLMTokenizer) -> None:
    """Refuse a directory whose ``added_tokens.json`` puts a command token at another id.

    glm-10b-chinese converted without ``--fix-command-token`` had [gMASK] at 50007 (eop's id);
    reading such ids as ours would feed the model the wrong tokens.
    """
    path = directory / ADDED_TOKENS
    if not path.is_file():
        return
    listed = json.loads(path.read_text(encoding="utf-8"))
    commands = tokenizer.command_tokens
    clashes = {t: i for t, i in listed.items() if t in commands and commands[t] != i}
    if clashes:
        expected = {t: commands[t] for t in clashes}
        raise ValueError(f"{path} gives {clashes}, but GLM's {tokenizer.kind} tokenizer has {expected}")


def load_tokenizer(path_or_dir: str | Path, kind: Kind | None = None) -> GLMTokenizer:
    """Load a GLM tokenizer from a directory (a model in the hub layout or a tokenizer folder).

    The kind comes from ``tokenizer_config.json``'s ``tokenizer_class`` (``GLMChineseTokenizer``,
    ``GLMBertTokenizer``, ``GLMGPT2Tokenizer``, ``GLMRobertaTokenizer``,
    ``GLMSentencePieceTokenizer``) or else from the files: ``cog-pretrain.model``
    (``"chinese-sp"``), ``tokenizer.model`` (``"sentencepiece"``), ``vocab.txt`` (``"bert"``); ``vocab.json`` +
    ``merges.txt`` alone is GPT-2 or RoBERTa and needs ``kind="gpt2"`` / ``kind="roberta"``.
    ``kind`` overrides the detection. Reads local files only; nothing is downloaded.
    """
    directory = Path(path_or_dir)
    if not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist"
        raise MissingFileError(f"tokenizer directory {directory} {what}")
    if kind is not None and kind not in LAYOUTS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {', '.join(KINDS)}")
    chosen = kind or _detect_kind(directory)
    spec = LAYOUTS[chosen]
    files = [directory / name for name in spec.files]
    if chosen == "chinese-sp" and not files[0].is_file() and (directory / SP_MODEL_FLAGAI).is_file():
        files = [directory / SP_MODEL_FLAGAI]
    missing = [file.name for file in files if not file.is_file()]
    if missing:
        raise MissingFileError(
            f"{directory} lacks {' and '.join(missing)}, which the {chosen} tokenizer ({spec.models}) needs"
        )
    tokenizer = _CLASSES[chosen](*files, name_or_path=str(directory))
    _check_added_tokens(directory, tokenizer)
    return tokenizer
