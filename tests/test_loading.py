import pytest

from glm_tune.checkpoint import CheckpointError
from glm_tune.loading import load_model_and_tokenizer


def test_loads_the_pair_and_takes_overrides(golden_dir, tokenizers_dir):
    model, tokenizer = load_model_and_tokenizer(str(golden_dir), str(tokenizers_dir / "glm-chinese"),
                                                activation="gelu_tanh")
    assert model.config.activation == "gelu_tanh" and tokenizer.kind == "chinese-sp"
    assert len(tokenizer) <= model.config.vocab_size


def test_a_tokenizer_that_does_not_fit_the_embedding_is_refused(golden_dir, tokenizers_dir, tmp_path):
    # GLM-RoBERTa's tokenizer (its files and the class its config names) against the golden
    # model's 50,048 embedding rows
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).write_bytes((tokenizers_dir / "glm-roberta" / name).read_bytes())
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "GLMRobertaTokenizer"}')
    with pytest.raises(CheckpointError, match=r"has 5\d{4} ids but the model .* only 50048 embedding rows: "
                                              r"they do not belong together"):
        load_model_and_tokenizer(str(golden_dir), str(tmp_path))


def test_a_checkpoint_without_a_tokenizer_says_to_pass_one(golden_dir, tmp_path):
    # the golden directory holds weights and config only
    with pytest.raises(CheckpointError, match=r"pass --tokenizer with the tokenizer's directory"):
        load_model_and_tokenizer(str(golden_dir))
