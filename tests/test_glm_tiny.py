"""The bundled glm-tiny: loads offline from the package and knows something before finetuning."""

from pathlib import Path

import torch

from glm_tune.checkpoint import resolve
from glm_tune.cloze.fill import fill_text
from glm_tune.cloze.generation import GenerationConfig
from glm_tune.loading import load_model_and_tokenizer
from glm_tune.model import load_model
from glm_tune.tokenizer import load_tokenizer
from glm_tune.training.data import DataOptions
from glm_tune.training.run import FitConfig, evaluate
from glm_tune.training.trainer import TrainerOptions


def test_glm_tiny_ships_inside_the_package_and_loads_offline():
    directory = resolve("glm-tiny")
    assert directory == Path(__import__("glm_tune").__file__).parent / "models" / "glm-tiny"
    assert resolve("glm-tiny-en") == resolve("glm-tiny-zh") == directory
    assert sum(f.stat().st_size for f in directory.iterdir()) < 30e6
    assert (directory / "MODEL_CARD.md").is_file()
    model = load_model("glm-tiny")
    tokenizer = load_tokenizer(directory)
    assert next(model.parameters()).dtype == torch.float32  # stored in fp16, loaded as fp32
    assert model.config.vocab_size == tokenizer.padded_vocab_size
    assert [tokenizer.mask_token_id, tokenizer.smask_token_id, tokenizer.gmask_token_id] == [16003, 16008, 16009]


def test_glm_tiny_fills_a_blank_with_a_word():
    model, tokenizer = load_model_and_tokenizer("glm-tiny")
    filled = fill_text(model, tokenizer, "the best part of the [MASK] is the acting .", GenerationConfig())
    assert filled.spans[0].strip() and "[MASK]" not in filled.text


def test_glm_tiny_beats_the_majority_class_zero_shot_on_eprstmt(shared):
    # Before any finetuning: the cloze pattern and label words alone, on FewCLUE eprstmt's 160
    # dev_few_all rows (86 Negative: majority 0.5375). glm-tiny scored 0.725 when it shipped.
    config = FitConfig(task="eprstmt", model="glm-tiny",
                       data=DataOptions(data_dir=str(shared / "data" / "fewclue" / "eprstmt"),
                                        validation_split="dev_few_all", eval_batch_size=64),
                       trainer=TrainerOptions(progress_bar=False, accelerator="cpu"))
    accuracy = evaluate(config, "validate").metrics["val/accuracy"]
    assert accuracy > 0.65
