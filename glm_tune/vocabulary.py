"""Each GLM tokenizer kind's fixed layout: its files, the size of its text vocabulary, and the ids
of GLM's command tokens (GLM-NOTES part 1 section 8).

The ids are what the released checkpoints were trained with, so they are data, not choices: a
tokenizer (:mod:`glm_tune.tokenizer`) reads its kind's :class:`VocabularyLayout` here and checks
its files against the ``anchors``. A GLM trained from scratch with its own SentencePiece model
gets the Chinese GLM's command tokens right after its N text pieces (:func:`sentencepiece_layout`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from glm_tune.constants import EOP_TOKEN, GMASK_TOKEN, MASK_TOKEN, SMASK_TOKEN, SOP_TOKEN

Kind = Literal["chinese-sp", "bert", "gpt2", "roberta", "sentencepiece"]
KINDS: tuple[str, ...] = get_args(Kind)

TOKENIZER_CONFIG = "tokenizer_config.json"
ADDED_TOKENS = "added_tokens.json"
SP_MODEL = "cog-pretrain.model"
SP_MODEL_FLAGAI = "spiece.model"
"""FlagAI 1.8.4's name for the same file (it is saved back as ``cog-pretrain.model``)."""
SP_TOKENIZER_MODEL = "tokenizer.model"
BERT_VOCAB = "vocab.txt"
BPE_VOCAB = "vocab.json"
BPE_MERGES = "merges.txt"

BLANK_ROLES = ("mask", "smask", "gmask")
ROLES = ("cls", "eos", "pad", "sep", "mask", "smask", "gmask", "sop", "eop", "unk")


@dataclass(frozen=True)
class VocabularyLayout:
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


LAYOUTS: dict[str, VocabularyLayout] = {
    "chinese-sp": VocabularyLayout(
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
            "mask": (MASK_TOKEN, 50003),
            "sop": (SOP_TOKEN, 50006),
            "eop": (EOP_TOKEN, 50007),
            "smask": (SMASK_TOKEN, 50008),
            "gmask": (GMASK_TOKEN, 50009),
            # The hub config names [UNK], which transformers then appends as id 50010; the model
            # itself only ever saw SentencePiece's own <unk>, piece 0.
            "unk": ("<unk>", 0),
        },
        extra={"[UNUSED1]": 50004, "[UNUSED2]": 50005},
        unk_is_command=False,
    ),
    "bert": VocabularyLayout(
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
            "mask": (MASK_TOKEN, 103),
            "sop": (SOP_TOKEN, 30522),
            "eop": (EOP_TOKEN, 30523),
        },
        anchors={"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103},
    ),
    "gpt2": VocabularyLayout(
        kind="gpt2",
        tokenizer_class="GLMGPT2Tokenizer",
        models="glm-2b / glm-10b",
        files=(BPE_VOCAB, BPE_MERGES),
        text_vocab_size=50257,
        roles={
            "eos": ("<|endoftext|>", 50256),
            "pad": ("<|endoftext|>", 50256),
            "sop": (SOP_TOKEN, 50257),
            "eop": (EOP_TOKEN, 50258),
            "cls": ("[CLS]", 50259),
            "mask": (MASK_TOKEN, 50260),
            "sep": ("[SEP]", 50261),
            "unk": ("[UNK]", 50262),
            "gmask": (GMASK_TOKEN, 50263),
            "smask": (SMASK_TOKEN, 50264),
        },
        anchors={"<|endoftext|>": 50256},
    ),
    "roberta": VocabularyLayout(
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
            "sop": (SOP_TOKEN, 50265),
            "eop": (EOP_TOKEN, 50266),
        },
        # GLM's own spellings, so task patterns written with [MASK] work on every model.
        extra={"[MASK]": 50264, "[CLS]": 0, "[SEP]": 2},
        anchors={"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 50264},
    ),
}



def sentencepiece_layout(text_vocab_size: int) -> VocabularyLayout:
    """The layout of a SentencePiece model of ``text_vocab_size`` pieces: the Chinese GLM's
    command tokens, in the same order, right after the text pieces."""
    n = text_vocab_size
    return VocabularyLayout(
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
            "mask": (MASK_TOKEN, n + 3),
            "sop": (SOP_TOKEN, n + 6),
            "eop": (EOP_TOKEN, n + 7),
            "smask": (SMASK_TOKEN, n + 8),
            "gmask": (GMASK_TOKEN, n + 9),
            "unk": ("<unk>", 0),
        },
        extra={"[UNUSED1]": n + 4, "[UNUSED2]": n + 5},
        unk_is_command=False,
    )


def sentencepiece_command_tokens() -> list[str]:
    """Every command-token string of the SentencePiece layout, longest first: the strings the
    tokenizer splits out of text before SentencePiece sees them (``<unk>`` is a text piece)."""
    spec = sentencepiece_layout(0)
    return sorted({s for s, _ in spec.roles.values() if s != "<unk>"} | set(spec.extra), key=len, reverse=True)


# The ids depend on the model's size, so this entry only names the class and files;
# each GLMSentencePieceTokenizer builds its own spec from its model.
LAYOUTS["sentencepiece"] = sentencepiece_layout(0)

KIND_OF_CLASS = {spec.tokenizer_class: kind for kind, spec in LAYOUTS.items()}
# Plain transformers classes, as some mirrors of the checkpoints name them.
KIND_OF_CLASS.update(
    {
        "BertTokenizer": "bert",
        "BertTokenizerFast": "bert",
        "GPT2Tokenizer": "gpt2",
        "GPT2TokenizerFast": "gpt2",
        "RobertaTokenizer": "roberta",
        "RobertaTokenizerFast": "roberta",
    }
)
