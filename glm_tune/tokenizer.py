"""The four GLM tokenizers behind one interface, and GLM's input builders.

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
trained from scratch (:mod:`glm_tune.tokenizer_training` makes one).

Every tokenizer is a vocabulary of text pieces plus GLM's *command tokens* at fixed ids (see
``_SPECS`` below and GLM-NOTES part 1 section 8). ``encode`` splits the text on the command
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

**Input builders** (:meth:`GLMTokenizer.build_inputs_for_generation`,
:meth:`GLMTokenizer.build_inputs_for_multiple_choice`) reproduce the Hugging Face port's
``build_inputs_for_generation`` / ``build_inputs_for_multiple_choice`` on encoded contexts
``[CLS] ... <eos>``. Batches with contexts of different lengths are right-padded: a real
token's position ids and what it attends to are then exactly those of its unpadded example,
since GLM places generated tokens at the blank's position, not after the context.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import sentencepiece as spm
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

from glm_tune.errors import MissingFileError

Kind = Literal["chinese-sp", "bert", "gpt2", "roberta", "sentencepiece"]
KINDS: tuple[str, ...] = get_args(Kind)

IGNORE_INDEX = -100
"""Label of positions that take no part in the loss (the context in training inputs)."""

TOKENIZER_CONFIG = "tokenizer_config.json"
ADDED_TOKENS = "added_tokens.json"
SP_MODEL = "cog-pretrain.model"
SP_MODEL_FLAGAI = "spiece.model"
"""FlagAI 1.8.4's name for the same file (it is saved back as ``cog-pretrain.model``)."""
SP_TOKENIZER_MODEL = "tokenizer.model"
BERT_VOCAB = "vocab.txt"
BPE_VOCAB = "vocab.json"
BPE_MERGES = "merges.txt"

_BLANK_ROLES = ("mask", "smask", "gmask")
_ROLES = ("cls", "eos", "pad", "sep", "mask", "smask", "gmask", "sop", "eop", "unk")


@dataclass(frozen=True)
class _Spec:
    """One kind's fixed layout: files, text vocabulary size and command tokens."""

    kind: str
    tokenizer_class: str
    models: str
    files: tuple[str, ...]
    text_vocab_size: int
    # role -> (token string, id); a role missing here is a token this kind does not have.
    roles: dict[str, tuple[str, int]]
    # Further strings recognised in text; the first string listed for an id is the one it decodes to.
    extra: dict[str, int] = field(default_factory=dict)
    # Pieces of the text vocabulary whose ids the command table relies on.
    anchors: dict[str, int] = field(default_factory=dict)
    # Whether ``unk`` is a command token (WordPiece's [UNK]) or a plain piece (SentencePiece's 0).
    unk_is_command: bool = True


_SOP = "<|startofpiece|>"
_EOP = "<|endofpiece|>"

_SPECS: dict[str, _Spec] = {
    "chinese-sp": _Spec(
        kind="chinese-sp",
        tokenizer_class="GLMChineseTokenizer",
        models="glm-large-chinese / glm-10b-chinese",
        files=(SP_MODEL,),
        text_vocab_size=50000,
        roles={
            "eos": ("<|endoftext|>", 50000),
            "pad": ("<|endoftext|>", 50000),
            "sep": ("[SEP]", 50001),
            "cls": ("[CLS]", 50002),
            "mask": ("[MASK]", 50003),
            "sop": (_SOP, 50006),
            "eop": (_EOP, 50007),
            "smask": ("[sMASK]", 50008),
            "gmask": ("[gMASK]", 50009),
            # The hub config names [UNK], which transformers then appends as id 50010; the model
            # itself only ever saw SentencePiece's own <unk>, piece 0.
            "unk": ("<unk>", 0),
        },
        extra={"[UNUSED1]": 50004, "[UNUSED2]": 50005},
        unk_is_command=False,
    ),
    "bert": _Spec(
        kind="bert",
        tokenizer_class="GLMBertTokenizer",
        models="glm-large",
        files=(BERT_VOCAB,),
        text_vocab_size=30522,
        roles={
            "pad": ("[PAD]", 0),
            "unk": ("[UNK]", 100),
            "cls": ("[CLS]", 101),
            # The original code's eos was [PAD]; the Hugging Face port ends inputs with [SEP].
            "sep": ("[SEP]", 102),
            "eos": ("[SEP]", 102),
            "mask": ("[MASK]", 103),
            "sop": (_SOP, 30522),
            "eop": (_EOP, 30523),
        },
        anchors={"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103},
    ),
    "gpt2": _Spec(
        kind="gpt2",
        tokenizer_class="GLMGPT2Tokenizer",
        models="glm-2b / glm-10b",
        files=(BPE_VOCAB, BPE_MERGES),
        text_vocab_size=50257,
        roles={
            "eos": ("<|endoftext|>", 50256),
            "pad": ("<|endoftext|>", 50256),
            "sop": (_SOP, 50257),
            "eop": (_EOP, 50258),
            "cls": ("[CLS]", 50259),
            "mask": ("[MASK]", 50260),
            "sep": ("[SEP]", 50261),
            "unk": ("[UNK]", 50262),
            "gmask": ("[gMASK]", 50263),
            "smask": ("[sMASK]", 50264),
        },
        anchors={"<|endoftext|>": 50256},
    ),
    "roberta": _Spec(
        kind="roberta",
        tokenizer_class="GLMRobertaTokenizer",
        models="glm-roberta-large",
        files=(BPE_VOCAB, BPE_MERGES),
        text_vocab_size=50265,
        roles={
            "cls": ("<s>", 0),
            "pad": ("<pad>", 1),
            "eos": ("</s>", 2),
            "sep": ("</s>", 2),
            "unk": ("<unk>", 3),
            "mask": ("<mask>", 50264),
            "sop": (_SOP, 50265),
            "eop": (_EOP, 50266),
        },
        # GLM's own spellings, so task patterns written with [MASK] work on every model.
        extra={"[MASK]": 50264, "[CLS]": 0, "[SEP]": 2},
        anchors={"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 50264},
    ),
}



def _sentencepiece_spec(text_vocab_size: int) -> _Spec:
    """The layout of a SentencePiece model of ``text_vocab_size`` pieces: the Chinese GLM's
    command tokens, in the same order, right after the text pieces."""
    n = text_vocab_size
    return _Spec(
        kind="sentencepiece",
        tokenizer_class="GLMSentencePieceTokenizer",
        models="a GLM with its own SentencePiece model",
        files=(SP_TOKENIZER_MODEL,),
        text_vocab_size=n,
        roles={
            "eos": ("<|endoftext|>", n),
            "pad": ("<|endoftext|>", n),
            "sep": ("[SEP]", n + 1),
            "cls": ("[CLS]", n + 2),
            "mask": ("[MASK]", n + 3),
            "sop": (_SOP, n + 6),
            "eop": (_EOP, n + 7),
            "smask": ("[sMASK]", n + 8),
            "gmask": ("[gMASK]", n + 9),
            "unk": ("<unk>", 0),
        },
        extra={"[UNUSED1]": n + 4, "[UNUSED2]": n + 5},
        unk_is_command=False,
    )


def sentencepiece_command_tokens() -> list[str]:
    """Every command-token string of the SentencePiece layout, longest first: the strings the
    tokenizer splits out of text before SentencePiece sees them (``<unk>`` is a text piece)."""
    spec = _sentencepiece_spec(0)
    return sorted({s for s, _ in spec.roles.values() if s != "<unk>"} | set(spec.extra), key=len, reverse=True)


# The ids depend on the model's size, so this entry only names the class and files;
# each GLMSentencePieceTokenizer builds its own spec from its model.
_SPECS["sentencepiece"] = _sentencepiece_spec(0)

_CLASS_TO_KIND = {spec.tokenizer_class: kind for kind, spec in _SPECS.items()}
# Plain transformers classes, as some mirrors of the checkpoints name them.
_CLASS_TO_KIND.update(
    {
        "BertTokenizer": "bert",
        "BertTokenizerFast": "bert",
        "GPT2Tokenizer": "gpt2",
        "GPT2TokenizerFast": "gpt2",
        "RobertaTokenizer": "roberta",
        "RobertaTokenizerFast": "roberta",
    }
)

_ALL_BLANKS = ("[MASK]", "[sMASK]", "[gMASK]")


class GLMTokenizer:
    """A GLM tokenizer: text pieces plus command tokens at GLM's ids (use :func:`load_tokenizer`).

    Attributes ``cls_token_id``, ``eos_token_id``, ``pad_token_id``, ``sep_token_id``,
    ``mask_token_id``, ``smask_token_id``, ``gmask_token_id``, ``sop_token_id``,
    ``eop_token_id`` and ``unk_token_id`` hold the ids (``None`` for a token the model does not
    have); ``vocab_size`` counts text pieces and command tokens (the model's embedding has more
    rows: see :attr:`padded_vocab_size`).
    """

    def __init__(self, spec: _Spec, files: Mapping[str, Path], name_or_path: str) -> None:
        self.kind: str = spec.kind
        self.name_or_path = name_or_path
        self._spec = spec
        self._files = dict(files)
        self._check_vocabulary()

        ids: dict[str, Any] = {role: spec.roles[role][1] if role in spec.roles else None for role in _ROLES}
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
        self.mask_token_ids: frozenset[int] = frozenset(ids[r] for r in _BLANK_ROLES if ids[r] is not None)

        commands = {s: i for role, (s, i) in spec.roles.items() if role != "unk" or spec.unk_is_command}
        commands.update(spec.extra)
        self._commands: dict[str, int] = commands
        self._command_strings: dict[int, str] = {}
        for string, token_id in commands.items():
            self._command_strings.setdefault(token_id, string)
        self._blank_strings = {spec.roles[r][0] for r in _BLANK_ROLES if r in spec.roles} | {
            s for s, i in spec.extra.items() if i in self.mask_token_ids
        }
        self._missing_blanks = [b for b in _ALL_BLANKS if b not in commands]
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

    # --- input builders -----------------------------------------------------------------------

    def _as_ids(self, item: str | Sequence[int]) -> list[int]:
        """A string encoded without special tokens, or a list of ids as they are."""
        if isinstance(item, str):
            return self.encode(item, add_special_tokens=False)
        return [int(i) for i in item]

    def _blank_names(self, ids: frozenset[int] | set[int]) -> str:
        return ", ".join(self._command_strings[i] for i in sorted(ids))

    def _first_blank(self, context: list[int], example: int, blanks: frozenset[int]) -> int:
        for position, token_id in enumerate(context):
            if token_id in blanks:
                return position
        found = [self._command_strings[t] for t in context if t in self.mask_token_ids]
        hint = f" (it has {', '.join(found)})" if found else ""
        raise ValueError(f"example {example} has no blank{hint}: this builder needs one of {self._blank_names(blanks)}")

    def build_inputs_for_generation(
        self,
        input_ids: Sequence[Sequence[int]] | Sequence[int] | torch.Tensor,
        max_gen_length: int,
        targets: str | Sequence[str] | Sequence[Sequence[int]] | None = None,
        *,
        attention_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """GLM's inputs to fill the first blank (any type) of each encoded context.

        ``input_ids``: encoded contexts ``[CLS] ... <eos>`` (one list of ids, a list of them, or a
        tensor; with a padded tensor give ``attention_mask``, 1 on real tokens). Contexts of
        different lengths are right-padded with ``pad_token_id`` to the longest, ``L``.

        Without ``targets`` (generation), ``G = max_gen_length`` and the result holds
        ``input_ids`` ``[b, L+1]`` (context + ``<|startofpiece|>``), ``position_ids``
        ``[b, 2, L+G]`` (positions ``0..L-1`` then the blank's position ``G`` times; block
        positions 0, then ``1..G``) and ``generation_attention_mask`` ``[b, 1, L+G, L+G]`` (every
        row sees the real context tokens; the generated block is causal).

        With ``targets`` (one string or id list per example; training), each target is
        ``target + <|endofpiece|>`` cut to ``max_gen_length``, ``G`` is the longest of them, and
        the result holds ``input_ids`` ``[b, L+G]`` (context + sop + target, padded with
        ``pad_token_id``), ``position_ids``, ``attention_mask`` ``[b, 1, L+G, L+G]`` and
        ``labels`` ``[b, L+G]`` (``-100`` over the context and padding, then target + eop).
        """
        if max_gen_length < 1:
            raise ValueError(f"max_gen_length must be at least 1, got {max_gen_length}")
        contexts, device = _as_batch(input_ids, attention_mask)
        batch = len(contexts)
        mask_positions = [self._first_blank(c, i, self.mask_token_ids) for i, c in enumerate(contexts)]
        answers = None
        gen_length = max_gen_length
        if targets is not None:
            answers = [(t + [self.eop_token_id])[:max_gen_length] for t in self._per_example(targets, batch, "targets")]
            gen_length = max(len(a) for a in answers)

        length = max(len(c) for c in contexts)
        context_ids = torch.full((batch, length), self.pad_token_id, dtype=torch.long)
        context_mask = torch.zeros((batch, length), dtype=torch.long)
        for row, context in enumerate(contexts):
            context_ids[row, : len(context)] = torch.tensor(context, dtype=torch.long)
            context_mask[row, : len(context)] = 1

        at_blank = torch.tensor(mask_positions)[:, None].expand(batch, gen_length)
        positions = torch.cat((torch.arange(length).expand(batch, length), at_blank), dim=1)
        steps = torch.arange(1, gen_length + 1).expand(batch, gen_length)
        blocks = torch.cat((torch.zeros((batch, length), dtype=torch.long), steps), dim=1)
        total = length + gen_length
        mask = torch.zeros((batch, total, total), dtype=torch.long)
        mask[:, :, :length] = context_mask[:, None, :]
        mask[:, length:, length:] = torch.tril(torch.ones((gen_length, gen_length), dtype=torch.long))
        position_ids = torch.stack((positions, blocks), dim=1)

        if answers is None:
            sop = torch.full((batch, 1), self.sop_token_id, dtype=torch.long)
            out = {
                "input_ids": torch.cat((context_ids, sop), dim=1),
                "position_ids": position_ids,
                "generation_attention_mask": mask.unsqueeze(1),
            }
        else:
            # Padding of short targets is fed as pad tokens (the reference feeds -100 there).
            fed = torch.full((batch, gen_length), self.pad_token_id, dtype=torch.long)
            labels = torch.full((batch, total), IGNORE_INDEX, dtype=torch.long)
            for row, answer in enumerate(answers):
                fed[row, : len(answer)] = torch.tensor([self.sop_token_id, *answer[:-1]], dtype=torch.long)
                labels[row, length : length + len(answer)] = torch.tensor(answer, dtype=torch.long)
            out = {
                "input_ids": torch.cat((context_ids, fed), dim=1),
                "position_ids": position_ids,
                "attention_mask": mask.unsqueeze(1),
                "labels": labels,
            }
        return {key: value.to(device) for key, value in out.items()}

    def build_inputs_for_multiple_choice(
        self,
        input_ids: Sequence[Sequence[int]] | Sequence[int] | torch.Tensor,
        choices: Sequence[Sequence[str | Sequence[int]]] | Sequence[str | Sequence[int]],
        *,
        include_eop: bool = False,
        attention_mask: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """GLM's inputs to score candidate fills of each context's first ``[MASK]``.

        ``choices``: per example, its candidates as strings (encoded without special tokens) or
        id lists; for a single example a flat list of candidates is enough. Each candidate ``c``
        is appended after the context as ``[sop] + c[:-1]`` at the blank's position with block
        positions ``1..len(c)``; it sees the context and its own earlier tokens, never another
        candidate. ``include_eop`` scores ``c + [eop]`` instead (fed as ``[sop] + c``): GLM's
        multi-token cloze scorer; without it (the default) the inputs are the Hugging Face
        port's, whose scores leave ``<|endofpiece|>`` out.

        Returns ``input_ids`` ``[b, T]``, ``position_ids`` ``[b, 2, T]``, ``attention_mask``
        ``[b, 1, T, T]`` (examples right-padded with ``pad_token_id``, the last position repeated,
        padding masked out), and per example the list of candidate tensors ``choice_ids`` and of
        the columns that predict them, ``choice_indices``.
        """
        contexts, device = _as_batch(input_ids, attention_mask)
        single = len(choices) > 0 and (isinstance(choices[0], str) or _is_id_list(choices[0]))
        per_example: Sequence[Any] = [choices] if single else choices
        if len(per_example) != len(contexts):
            raise ValueError(f"choices has {len(per_example)} entries for {len(contexts)} examples")
        # The layout is the scorer's own packing, so these inputs and `score_candidates` agree.
        from glm_tune.scoring import pack_candidates

        blanks = frozenset({self.mask_token_id})
        mask_positions, targets = [], []
        for example, (context, candidates) in enumerate(zip(contexts, per_example)):
            mask_positions.append(self._first_blank(context, example, blanks))
            if len(candidates) == 0:
                raise ValueError(f"example {example} has no choices")
            ids = [self._as_ids(c) for c in candidates]
            for candidate, target in zip(candidates, ids):
                if not target:
                    raise ValueError(f"choice {candidate!r} of example {example} encodes to no tokens")
            targets.append(ids)
        packed = pack_candidates(
            contexts, mask_positions, targets, sop_id=self.sop_token_id,
            eop_id=self.eop_token_id if include_eop else None, pad_id=self.pad_token_id,
        )
        per_candidate = [
            (packed.targets[packed.candidate == c], packed.columns[packed.candidate == c])
            for c in range(len(packed.lengths))
        ]
        firsts = [sum(packed.counts[:i]) for i in range(len(packed.counts))]
        return {
            "input_ids": packed.input_ids.to(device),
            "position_ids": packed.position_ids.to(device),
            "attention_mask": packed.attention_mask.long().to(device),
            "choice_ids": [[per_candidate[f + j][0].to(device) for j in range(n)] for f, n in zip(firsts, packed.counts)],
            "choice_indices": [[per_candidate[f + j][1].to(device) for j in range(n)] for f, n in zip(firsts, packed.counts)],
        }

    def _per_example(self, items: str | Sequence[Any], batch: int, what: str) -> list[list[int]]:
        """One id list per example from a string, an id list, or a list of either."""
        if isinstance(items, str) or _is_id_list(items):
            items = [items]
        if len(items) != batch:
            raise ValueError(f"{what} has {len(items)} entries for {batch} examples")
        return [self._as_ids(item) for item in items]


def _is_id_list(value: Any) -> bool:
    """True for a non-empty sequence of ints (one example's ids), not of strings or lists."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 1
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0 and isinstance(value[0], int)


def _as_batch(
    input_ids: Sequence[Sequence[int]] | Sequence[int] | torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[list[list[int]], torch.device]:
    """Contexts as lists of their real tokens, and the device the results go to."""
    device = input_ids.device if isinstance(input_ids, torch.Tensor) else torch.device("cpu")
    if isinstance(input_ids, torch.Tensor):
        rows = input_ids if input_ids.dim() == 2 else input_ids.reshape(1, -1)
        if attention_mask is not None:
            keep = attention_mask.reshape(rows.shape).bool()
            contexts = [row[m].tolist() for row, m in zip(rows, keep)]
        else:
            contexts = rows.tolist()
    else:
        if attention_mask is not None:
            raise ValueError(
                "attention_mask goes with a padded tensor of input_ids; lists of ids are taken as they are"
            )
        contexts = [list(input_ids)] if _is_id_list(input_ids) else [list(c) for c in input_ids]
    if not contexts or any(len(c) == 0 for c in contexts):
        raise ValueError("input_ids must hold at least one non-empty context")
    return [[int(i) for i in c] for c in contexts], device


class GLMChineseTokenizer(GLMTokenizer):
    """glm-large-chinese / glm-10b-chinese: SentencePiece ``cog-pretrain.model`` (50000 pieces).

    Text is plain ``sp.encode``, as the Hugging Face port computes it: every piece of text
    between command tokens gets its own word-start marker ``▁``.
    """

    def __init__(self, model_file: str | Path, name_or_path: str | None = None) -> None:
        path = Path(model_file)
        self._sp = spm.SentencePieceProcessor(model_file=str(path))
        super().__init__(_SPECS["chinese-sp"], {SP_MODEL: path}, name_or_path or str(path.parent))

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
        spec = _sentencepiece_spec(self._sp.get_piece_size())
        GLMTokenizer.__init__(self, spec, {SP_TOKENIZER_MODEL: path}, name_or_path or str(path.parent))

    def _check_vocabulary(self) -> None:
        if self._sp.unk_id() != 0:
            raise ValueError(
                f"{self._files[SP_TOKENIZER_MODEL]} has <unk> at piece {self._sp.unk_id()}; GLM's SentencePiece "
                "tokenizers need it at 0 (train with unk_id=0, as glm_tune.tokenizer_training does)"
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

    def __init__(self, spec: _Spec, backend: Tokenizer, files: Mapping[str, Path], name_or_path: str) -> None:
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
        super().__init__(_SPECS["bert"], backend, {BERT_VOCAB: path}, name_or_path or str(path.parent))


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
        super().__init__(_SPECS["gpt2"], _byte_level_bpe(vocab, merges), files, name_or_path or str(vocab.parent))


class GLMRobertaTokenizer(_PipelineTokenizer):
    """glm-roberta-large: RoBERTa byte-level BPE, encoded ``<s> text </s>``; ``[MASK]`` means ``<mask>``."""

    def __init__(self, vocab_file: str | Path, merges_file: str | Path, name_or_path: str | None = None) -> None:
        vocab, merges = Path(vocab_file), Path(merges_file)
        files = {BPE_VOCAB: vocab, BPE_MERGES: merges}
        super().__init__(_SPECS["roberta"], _byte_level_bpe(vocab, merges), files, name_or_path or str(vocab.parent))


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
        if tokenizer_class in _CLASS_TO_KIND:
            return _CLASS_TO_KIND[tokenizer_class]
        if tokenizer_class is not None:
            raise ValueError(
                f"{config_file} names tokenizer_class {tokenizer_class!r}, which is not a GLM tokenizer "
                f"(expected one of {', '.join(s.tokenizer_class for s in _SPECS.values())}); pass kind= to override"
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
    if kind is not None and kind not in _SPECS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {', '.join(KINDS)}")
    chosen = kind or _detect_kind(directory)
    spec = _SPECS[chosen]
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
