"""Loading a GLM and its tokenizer together: what fill, the run API and pretraining all need.

The tokenizer comes from the model's own directory unless one is given (THUDM's and some
converted checkpoints ship weights alone), and the pair is checked to belong together: a
tokenizer with more ids than the model has embedding rows would index past the embedding.
"""

from __future__ import annotations

from typing import Any

import torch

from glm_tune.checkpoint import CheckpointError, resolve
from glm_tune.errors import MissingFileError
from glm_tune.model import GLMConfig, GLMModel, load_model
from glm_tune.tokenizer import GLMTokenizer, load_tokenizer


def load_model_and_tokenizer(
    model: str,
    tokenizer: str | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    model_config: GLMConfig | dict[str, Any] | str | None = None,
    **overrides: Any,
) -> tuple[GLMModel, GLMTokenizer]:
    """A GLM (a name, hub id or path; see `glm-tune models`) and its tokenizer.

    ``tokenizer``: a tokenizer directory, for a checkpoint whose directory has none.
    ``model_config`` and ``overrides`` (``activation=``, dropout probabilities) are those of
    :meth:`GLMModel.from_pretrained`.
    """
    directory = resolve(model)
    glm = load_model(directory, dtype=dtype, config=model_config, **overrides).to(device)
    tokenizer_dir = tokenizer or (directory if directory.is_dir() else directory.parent)
    try:
        vocabulary = load_tokenizer(tokenizer_dir)
    except MissingFileError as error:
        raise CheckpointError(f"{error}; pass --tokenizer with the tokenizer's directory") from None
    if glm.config.vocab_size < len(vocabulary):
        raise CheckpointError(
            f"the tokenizer in {tokenizer_dir} has {len(vocabulary)} ids but the model {model} only "
            f"{glm.config.vocab_size} embedding rows: they do not belong together"
        )
    return glm, vocabulary
