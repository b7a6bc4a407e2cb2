"""Decoding options for ``fit`` (validation), ``validate``, ``test``, ``predict`` and suite YAMLs.

Every option defaults to unset: a generation task keeps its own :class:`GenerationConfig`
(GLM's beams, lengths and n-gram settings, ``Task.generation``) and only the options a user
sets replace the task's values::

    FitConfig(task="lcsts", ..., decoding=DecodingOptions(decoding_strategy="greedy", repetition_penalty=1.2))

The fields mirror :class:`GenerationConfig` with three exceptions, so that the CLI's flat option
names stay unique: its ``strategy`` is ``decoding_strategy`` here (``--strategy`` is the
trainer's distributed strategy), its ``length_penalty`` is ``beam_length_penalty``
(``--length_penalty`` is the cloze scoring option of :class:`~glm_tune.training.module.TrainingOptions`),
and its ``seed`` is the run's ``--seed``. ``banned_ids`` comes from the tokenizer. ``rouge_postprocess`` cleans
predictions before ROUGE (:func:`glm_tune.metrics.postprocess.clean_summary`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from glm_tune.cloze.generation import GenerationConfig


@dataclass
class DecodingOptions:
    """How generation tasks decode; an unset option keeps the task's default (see `glm-tune tasks`)."""

    decoding_strategy: Literal["greedy", "beam", "sample"] | None = None
    """Decoding: greedy, beam (beam search) or sample (GenerationConfig's strategy)."""
    num_beams: int | None = None
    """Beams of beam search (the context is encoded once and its cache shared by the beams)."""
    beam_length_penalty: float | None = None
    """Beam search ranks finished spans by log-prob / length ** this (GenerationConfig's
    length_penalty; --length_penalty is the scoring option of cloze tasks)."""
    min_new_tokens: int | None = None
    """<|endofpiece|> is forbidden before this many generated tokens."""
    max_new_tokens: int | None = None
    """Most tokens generated per blank, <|endofpiece|> included."""
    no_repeat_ngram_size: int | None = None
    """Never repeat an n-gram of this size within a generated span (0: off)."""
    repetition_penalty: float | None = None
    """CTRL repetition penalty on the tokens already generated in the span (not the context):
    positive logits divided by it, negative ones multiplied (1: off)."""
    temperature: float | None = None
    """Sampling temperature."""
    top_k: int | None = None
    """Sample from the k most likely tokens (0: no limit)."""
    top_p: float | None = None
    """Nucleus sampling: the smallest set of tokens whose probability reaches p."""
    rouge_postprocess: bool = False
    """Before ROUGE, clean each prediction as GLM's seq2seq evaluation does: split it into
    sentences, drop a sentence of 4 words or fewer (Chinese: characters) and one whose words
    are mostly (over 70%) in earlier sentences. Predictions written by predict stay as generated."""

    def generation_overrides(self) -> dict:
        """The GenerationConfig fields this sets, by GenerationConfig's names."""
        return {RENAMED.get(f.name, f.name): getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "rouge_postprocess" and getattr(self, f.name) is not None}

    def apply(self, base: GenerationConfig | None, *, seed: int | None = None) -> GenerationConfig:
        """``base`` (a task's defaults) with the options that are set; ``seed`` (the run's)
        seeds sampling unless ``base`` has a seed of its own."""
        config = dataclasses.replace(base or GenerationConfig(), **self.generation_overrides())
        if config.seed is None and seed is not None:
            config = dataclasses.replace(config, seed=seed)
        return config


RENAMED = {"decoding_strategy": "strategy", "beam_length_penalty": "length_penalty"}
"""DecodingOptions field -> GenerationConfig field, where the names differ."""
