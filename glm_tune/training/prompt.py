"""Continuous prompt tokens (P-tuning), as GLM's ``PromptSpell`` does them.

The data module puts ``n`` placeholder ids right after ``[CLS]``; a forward hook on the word
embeddings swaps the placeholders' embeddings for the prompt encoder's output, so the model,
the scorers and generation need no change. The placeholder is a row of the padded vocabulary
that no tokenizer id uses (the model never predicts or reads it otherwise).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from glm_tune.errors import OptionError

PromptEncoderKind = Literal["lstm", "mlp", "none"]


class PromptEncoder(nn.Module):
    """``n`` trainable prompt embeddings, reparameterised as GLM does.

    ``lstm``: a 2-layer bidirectional LSTM and a 2-layer MLP over the raw embeddings (GLM's
    default, which trains more stably than free vectors); ``mlp``: the MLP only; ``none``: the
    embeddings themselves.
    """

    def __init__(self, num_tokens: int, hidden_size: int, kind: PromptEncoderKind = "lstm",
                 init: torch.Tensor | None = None) -> None:
        super().__init__()
        if num_tokens < 1:
            raise OptionError(f"prompt tokens must be at least 1, got {num_tokens}")
        self.kind = kind
        self.embeddings = nn.Parameter(torch.randn(num_tokens, hidden_size) * 0.02 if init is None else init.clone())
        if kind == "lstm":
            self.lstm = nn.LSTM(hidden_size, hidden_size // 2, num_layers=2, bidirectional=True, batch_first=True)
        if kind in ("lstm", "mlp"):
            self.mlp = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size))
        elif kind != "none":
            raise OptionError(f"unknown prompt encoder {kind!r}; use lstm, mlp or none")

    def forward(self) -> torch.Tensor:
        out = self.embeddings
        if self.kind == "lstm":
            out = self.lstm(out[None])[0][0]
        if self.kind in ("lstm", "mlp"):
            out = self.mlp(out)
        return out


def free_embedding_row(vocab_rows: int, tokenizer_size: int) -> int:
    """The last padded vocabulary row, which no token id reaches."""
    if vocab_rows <= tokenizer_size:
        raise ValueError(
            f"the model's {vocab_rows} embedding rows are all used by the tokenizer ({tokenizer_size} ids): "
            "no free row for prompt tokens"
        )
    return vocab_rows - 1


def attach_prompt(embedding: nn.Embedding, encoder: PromptEncoder, placeholder_id: int):
    """Make ``embedding`` return the encoder's vectors at placeholder ids; returns the hook handle."""

    def swap(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        where = inputs[0] == placeholder_id
        if not where.any():
            return output
        prompt = encoder().to(output.dtype)
        # Every row carries the same n slots in order, so the vectors repeat row after row.
        count = int(where.sum())
        return output.masked_scatter(where[..., None], prompt.repeat(count // len(prompt), 1))

    return embedding.register_forward_hook(swap)
