"""Train a SentencePiece model on raw text and save it as a GLM tokenizer directory.

The result (``tokenizer.model``, ``tokenizer_config.json``, ``added_tokens.json``) loads with
:func:`glm_tune.tokenizer.load_tokenizer` as a ``GLMSentencePieceTokenizer``: N text pieces
(``<unk>`` at 0, no ``<s>``/``</s>``/pad pieces, which GLM's command tokens replace) followed by
the command tokens from id N on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

from glm_tune.pretraining.corpus import read_documents
from glm_tune.tokenizer import GLMSentencePieceTokenizer
from glm_tune.vocabulary import SP_TOKENIZER_MODEL, sentencepiece_command_tokens

# Every command-token string of the layout; removed from training text so that no piece is
# spent on them (the GLM tokenizer splits them out of text before SentencePiece sees it).
_COMMAND_STRINGS = sentencepiece_command_tokens()
_COMMAND_RE = re.compile("|".join(re.escape(s) for s in _COMMAND_STRINGS))


def _lines(documents_or_paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    items = list(documents_or_paths)
    paths = [item for item in items if isinstance(item, os.PathLike)]
    if paths and len(paths) != len(items):
        raise TypeError("train_tokenizer: pass either documents (str) or paths (pathlib.Path), not both")
    documents = read_documents(paths) if paths else items
    for document in documents:
        # SentencePiece takes one sentence per input line; a document's lines are fed apart.
        for line in _COMMAND_RE.sub(" ", document).split("\n"):
            if line.strip():
                yield line


def train_tokenizer(
    documents_or_paths: Iterable[str | os.PathLike[str]],
    output_dir: str | Path,
    vocab_size: int = 16000,
    model_type: str = "unigram",
    character_coverage: float = 0.9995,
    seed: int = 1234,
    max_sentence_length: int = 16384,
    input_sentence_size: int = 2_000_000,
    num_threads: int = 1,
) -> GLMSentencePieceTokenizer:
    """Train SentencePiece and write a GLM tokenizer directory; returns the loaded tokenizer.

    Args:
        documents_or_paths: documents as strings, or files/directories as ``pathlib.Path``
            objects (read with :func:`glm_tune.pretraining.corpus.read_documents`).
        output_dir: where ``tokenizer.model`` (plus SentencePiece's ``tokenizer.vocab``),
            ``tokenizer_config.json`` and ``added_tokens.json`` are written.
        vocab_size: text pieces wanted; a small corpus may give fewer (the limit is soft), and
            the GLM vocabulary adds 10 command tokens after them.
        model_type: ``unigram`` or ``bpe`` (also ``char``, ``word``).
        character_coverage: share of characters the pieces must cover; the rest map to
            ``<unk>`` (0.9995 suits Chinese; 1.0 for small alphabets).
        seed: seeds SentencePiece's sampling of ``input_sentence_size`` lines.
        max_sentence_length: longer lines (in bytes) are skipped by SentencePiece.
        input_sentence_size: at most this many lines are sampled for training.
        num_threads: 1 makes training deterministic for a fixed seed and input; more threads
            are faster.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        sentence_iterator=_lines(documents_or_paths),
        model_prefix=str(out / Path(SP_TOKENIZER_MODEL).stem),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        max_sentence_length=max_sentence_length,
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=True,
        num_threads=num_threads,
        byte_fallback=False,
        hard_vocab_limit=False,
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        minloglevel=2,
    )
    tokenizer = GLMSentencePieceTokenizer(out / SP_TOKENIZER_MODEL, name_or_path=str(out))
    tokenizer.save_pretrained(out)
    return tokenizer
