"""Training a SentencePiece GLM tokenizer on a bilingual corpus."""

from __future__ import annotations

import random

import pytest
import sentencepiece as spm

from glm_tune.pretraining.tokenizer_training import train_tokenizer
from glm_tune.tokenizer import GLMSentencePieceTokenizer, load_tokenizer

WORDS = "the a cat dog sat ran over under quickly slowly film movie good bad story because".split()
CHARS = "我们的电影很好看故事不错质量物流快慢猫狗跑了在上下因为所以"


def corpus(seed: int = 0, size: int = 300) -> list[str]:
    rng = random.Random(seed)
    documents = []
    for i in range(size):
        english = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize() + "."
        chinese = "".join(rng.choice(CHARS) for _ in range(rng.randint(6, 15))) + "。"
        # Command-token strings in raw text must not become pieces.
        blank = " [MASK] <|endoftext|>" if i % 3 == 0 else ""
        documents.append(f"{english}{blank}\n{chinese}")
    return documents


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tok")
    return directory, train_tokenizer(corpus(), directory, vocab_size=120, character_coverage=1.0, seed=7)


def test_trained_directory_loads_with_the_glm_layout(trained):
    directory, tokenizer = trained
    assert {p.name for p in directory.iterdir()} >= {"tokenizer.model", "tokenizer_config.json", "added_tokens.json"}
    loaded = load_tokenizer(directory)
    assert isinstance(loaded, GLMSentencePieceTokenizer) and loaded.kind == "sentencepiece"
    n = spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model")).get_piece_size()
    assert n == 120 and loaded.vocab_size == n + 10 and loaded.padded_vocab_size == 256
    assert (loaded.eos_token_id, loaded.cls_token_id, loaded.mask_token_id, loaded.sop_token_id,
            loaded.eop_token_id, loaded.smask_token_id, loaded.gmask_token_id) == (n, n + 2, n + 3, n + 6, n + 7,
                                                                                   n + 8, n + 9)
    assert loaded.unk_token_id == 0


def test_command_strings_are_not_pieces(trained):
    directory, tokenizer = trained
    sp = spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert not [p for p in pieces if "MASK" in p or "endoftext" in p or "|" in p]
    assert pieces[0] == "<unk>" and "<s>" not in pieces and "</s>" not in pieces
    ids = tokenizer.encode("the cat [MASK] 我们 [gMASK]", add_special_tokens=False)
    assert tokenizer.mask_token_id in ids and ids[-1] == tokenizer.gmask_token_id


def test_bilingual_text_round_trips_without_unknowns(trained):
    _, tokenizer = trained
    text = "The cat sat because the film was good. 我们的电影很好看。"
    ids = tokenizer.encode(text)
    assert tokenizer.count_unknown(ids) == 0
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.count_unknown("zebra 龘") == 2


def test_training_is_deterministic(tmp_path, trained):
    directory, _ = trained
    train_tokenizer(corpus(), tmp_path / "again", vocab_size=120, character_coverage=1.0, seed=7)
    # The files differ only in the output path they record, so compare the vocabularies.
    assert vocabulary(tmp_path / "again") == vocabulary(directory)
    train_tokenizer(corpus(), tmp_path / "other", vocab_size=120, character_coverage=1.0, seed=7, model_type="bpe")
    assert vocabulary(tmp_path / "other") != vocabulary(directory)


def vocabulary(directory) -> list[tuple[str, float]]:
    sp = spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))
    return [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def test_training_reads_corpus_paths(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("\n\n".join(corpus(1, 200)), encoding="utf-8")
    tokenizer = train_tokenizer([tmp_path / "data"], tmp_path / "out", vocab_size=100, character_coverage=1.0)
    assert tokenizer.vocab_size == 110
    with pytest.raises(TypeError, match="not both"):
        train_tokenizer(["some text", tmp_path / "data"], tmp_path / "bad")
