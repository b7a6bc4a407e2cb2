"""The whole GLM forward pass, from the smallest part to the whole.

GLM (Du et al., ACL 2022) is a pre-LN GPT-2/Megatron stack with two additions: 2-D position
encoding (position + block position) and an attention mask that lets Part A (the corrupted
text) attend bidirectionally while Part B (the blanks being filled) is causal. This file
reproduces the public Hugging Face port numerically (fp32, same parameter names) and adds what
the port lacks: scaled-dot-product attention, a key/value cache, working gradient
checkpointing and an activation switch.

The conventions below follow GLM-NOTES part 1; where they are surprising the comment says why.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from glm_tune import checkpoint as ckpt
from glm_tune.constants import IGNORE_INDEX

# The port masks scores as `scores * mask - 65504 * (1 - mask)`: a masked logit is exactly
# -65504 (the fp16 maximum), so it survives a cast to half precision.
MASKED_SCORE = -65504.0

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]
"""One (key, value) pair per layer, each [batch, heads, cached_length, head_dim]."""


@dataclass
class GLMConfig:
    """Hyper-parameters of a GLM; field names are those of the hub ``config.json``."""

    vocab_size: int = 50048
    """Rows of the word embedding (the tokenizer plus command tokens, padded to a multiple of 128)."""
    hidden_size: int = 1024
    num_layers: int = 24
    num_attention_heads: int = 16
    max_sequence_length: int = 1024
    """Longest input; both position tables have one row more (index ``max_sequence_length``)."""
    embedding_dropout_prob: float = 0.1
    attention_dropout_prob: float = 0.1
    output_dropout_prob: float = 0.1
    block_position_encoding: bool = True
    """2-D positions (position, block position); every released GLM uses them."""
    attention_scale: float = 1.0
    """Values > 1 only rescale scores for fp16 stability in the original code; softmax is
    invariant to it and scaled-dot-product attention is already stable, so it is accepted and
    has no effect."""
    checkpoint_activations: bool = False
    """Recompute each block in the backward pass instead of storing its activations."""
    checkpoint_num_layers: int = 1
    initializer_range: float = 0.02
    output_predict: bool = True
    """Compute vocabulary logits (tied to the word embedding). False gives hidden states only."""
    pool_token: str = "cls"
    activation: str = "gelu"
    """``"gelu"`` is exact (erf) GELU, as the Hugging Face port computes it and as hub
    checkpoints are loaded by default; ``"gelu_tanh"`` is the tanh approximation that the
    original THUDM/GLM training code (and FlagAI, PaddleNLP) used, and that checkpoints in their
    layouts load with. They differ by up to 4.7e-4 per activation."""
    origin: str = "hub"
    """Whose code the weights come from: ``hub`` (the Hugging Face port), ``thudm``, ``flagai`` or
    ``paddlenlp``. Recorded on load so that a converted or finetuned copy keeps the defaults that
    follow its authors' code (the activation, no eos after a trailing blank for thudm/flagai)."""
    # Kept only so a hub config survives a load/save round trip; the port ignores them too.
    parallel_output: bool = True
    relative_encoding: bool = False
    spell_length: int | None = None
    spell_func: str = "lstm"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    """Unknown keys of a loaded config.json, written back unchanged on save."""

    _ALIASES = {"num_hidden_layers": "num_layers", "n_layer": "num_layers"}
    # Keys the hub writes that describe the file, not the model.
    _FILE_KEYS = {"architectures", "model_type", "auto_map", "torch_dtype", "transformers_version"}

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.origin not in ckpt.ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ckpt.ORIGINS)}, got {self.origin!r}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GLMConfig:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            key = cls._ALIASES.get(key, key)
            if key in known:
                kwargs[key] = value
            elif key not in cls._FILE_KEYS:
                extra[key] = value
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The hub ``config.json`` fields, so the port's ``GLMConfig`` reads it unchanged."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {
            "architectures": ["GLMForConditionalGeneration"],
            "model_type": "glm",
            **self.extra,
            **values,
        }

    def num_parameters(self) -> int:
        """Parameter count computed from the shapes (tied output embedding counted once)."""
        h, layers = self.hidden_size, self.num_layers
        embeddings = self.vocab_size * h + (2 if self.block_position_encoding else 1) * (
            self.max_sequence_length + 1
        ) * h
        per_layer = 2 * 2 * h + (3 * h * h + 3 * h) + (h * h + h) + (4 * h * h + 4 * h) + (4 * h * h + h)
        return embeddings + layers * per_layer + 2 * h


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {"gelu": F.gelu, "gelu_tanh": _gelu_tanh}


# ----------------------------------------------------------------------------- attention masks
def build_attention_mask(
    attention_mask: torch.Tensor | int | None,
    batch_size: int,
    query_length: int,
    cache_length: int,
    device: torch.device,
) -> torch.Tensor:
    """Turn every mask form the port accepts into a boolean [b or 1, 1, q, cache+q] mask.

    Forms (GLM-NOTES part 1 section 4):
    - ``None``: purely causal (the port's ``sep = 0``);
    - a scalar or one ``sep`` per example (numel 1 or b): columns before ``sep`` are visible to
      every row (Part A is bidirectional), later ones causally; cached columns are all visible;
    - a 4-D ``[b, 1, q, k]`` mask (1 = attend) of which the last ``cache + q`` columns are used;
    - a 2-D ``[b, k]`` padding mask, no causality.
    The port tells ``sep`` from a full mask only by ``numel``; we do the same so that inputs
    behave identically (a 4-D mask with numel b is read as ``sep`` there too).
    """
    total = cache_length + query_length
    if attention_mask is None:
        attention_mask = torch.zeros(batch_size, dtype=torch.long, device=device)
    if not torch.is_tensor(attention_mask):
        attention_mask = torch.tensor(attention_mask, device=device)
    attention_mask = attention_mask.to(device)
    if attention_mask.numel() in (1, batch_size) and attention_mask.dim() <= 1:
        sep = attention_mask.reshape(-1, 1, 1, 1)
        rows = torch.arange(query_length, device=device).view(1, 1, -1, 1)
        cols = torch.arange(query_length, device=device).view(1, 1, 1, -1)
        mask = (cols <= rows) | (cols < sep)
        if cache_length:
            mask = torch.cat(
                [mask.new_ones(mask.shape[0], 1, query_length, cache_length), mask], dim=-1
            )
        return mask
    if attention_mask.dim() == 2:
        attention_mask = attention_mask[:, None, None, :]
    if attention_mask.dim() != 4:
        raise ValueError(
            f"attention_mask must be None, a sep index per example, [b, k] or [b, 1, q, k]; "
            f"got shape {tuple(attention_mask.shape)}"
        )
    if attention_mask.shape[-1] < total:
        raise ValueError(
            f"attention_mask covers {attention_mask.shape[-1]} key positions but the cache and "
            f"input have {total}"
        )
    mask = attention_mask[..., -total:]
    if mask.shape[-2] != 1:
        mask = mask[..., -query_length:, :]
    return mask > 0


# ----------------------------------------------------------------------------- blocks
class SelfAttention(nn.Module):
    def __init__(self, config: GLMConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_dropout_prob
        self.output_dropout = nn.Dropout(config.output_dropout_prob)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, q, _ = x.shape
        # The fused projection is laid out [Q | K | V] along the feature axis.
        query, key, value = self.query_key_value(x).view(b, q, 3, self.num_heads, self.head_dim).unbind(2)
        query, key, value = (t.transpose(1, 2) for t in (query, key, value))
        if past is not None:
            key = torch.cat([past[0], key], dim=2)
            value = torch.cat([past[1], value], dim=2)
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=mask,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        out = out.transpose(1, 2).reshape(b, q, -1)
        return self.output_dropout(self.dense(out)), (key, value)


class MLP(nn.Module):
    def __init__(self, config: GLMConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = nn.Linear(config.hidden_size, 4 * config.hidden_size)
        self.dense_4h_to_h = nn.Linear(4 * config.hidden_size, config.hidden_size)
        self.activation = ACTIVATIONS[config.activation]
        self.dropout = nn.Dropout(config.output_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense_4h_to_h(self.activation(self.dense_h_to_4h(x))))


class GLMBlock(nn.Module):
    """Pre-LN transformer layer; LayerNorm eps is 1e-5 in every GLM."""

    def __init__(self, config: GLMConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=1e-5)
        self.attention = SelfAttention(config)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=1e-5)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, present = self.attention(self.input_layernorm(x), mask, past)
        x = x + attended
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class GLMTransformer(nn.Module):
    """Position embeddings, the layer stack and the final LayerNorm (the port's ``transformer``)."""

    def __init__(self, config: GLMConfig) -> None:
        super().__init__()
        self.config = config
        rows = config.max_sequence_length + 1 if config.block_position_encoding else config.max_sequence_length
        self.position_embeddings = nn.Embedding(rows, config.hidden_size)
        if config.block_position_encoding:
            self.block_position_embeddings = nn.Embedding(rows, config.hidden_size)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout_prob)
        self.layers = nn.ModuleList(GLMBlock(config) for _ in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=1e-5)
        self.gradient_checkpointing = config.checkpoint_activations

    def embed_positions(self, position_ids: torch.Tensor) -> torch.Tensor:
        if not self.config.block_position_encoding:
            return self.position_embeddings(position_ids)
        return self.position_embeddings(position_ids[:, 0]) + self.block_position_embeddings(position_ids[:, 1])

    def forward(
        self,
        word_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        mask: torch.Tensor,
        past_key_values: KVCache | None,
        use_cache: bool,
    ) -> tuple[torch.Tensor, KVCache | None]:
        x = self.embedding_dropout(word_embeds + self.embed_positions(position_ids))
        presents = []
        recompute = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for i, layer in enumerate(self.layers):
            past = past_key_values[i] if past_key_values is not None else None
            if recompute:
                # Non-reentrant checkpointing works with inputs that need no grad and with
                # frozen parameters, which is where the port's reentrant version breaks.
                x, present = checkpoint(layer, x, mask, past, use_reentrant=False)
            else:
                x, present = layer(x, mask, past)
            if use_cache:
                presents.append(present)
        return self.final_layernorm(x), tuple(presents) if use_cache else None


# ----------------------------------------------------------------------------- the model
@dataclass
class GLMOutput:
    """What :meth:`GLMModel.forward` returns (attribute names follow the hub port)."""

    logits: torch.Tensor | None
    last_hidden_states: torch.Tensor
    loss: torch.Tensor | None = None
    past_key_values: KVCache | None = None
    """Key/value cache to pass back for incremental decoding (``use_cache=True``)."""


class GLMModel(nn.Module):
    """GLM with its tied language-model head; a drop-in for the hub port's forward.

    ``model(input_ids, position_ids=..., attention_mask=..., labels=...)`` accepts the port's
    inputs and returns ``logits``, ``last_hidden_states`` and ``loss`` (mean cross-entropy on
    unshifted ``labels``, ignoring -100, as ``GLMForConditionalGeneration``).
    """

    def __init__(self, config: GLMConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.transformer = GLMTransformer(config)
        self.apply(self._init_weights)
        # Megatron scales the init of layers that write into the residual stream by
        # 1/sqrt(2 * layers) so its variance does not grow with depth.
        scaled = config.initializer_range / math.sqrt(2.0 * config.num_layers)
        for layer in self.transformer.layers:
            nn.init.normal_(layer.attention.dense.weight, std=scaled)
            nn.init.normal_(layer.mlp.dense_4h_to_h.weight, std=scaled)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Any,
        config: GLMConfig | dict[str, Any] | str | None = None,
        dtype: torch.dtype | None = None,
        cache_dir: str | None = None,
        **overrides: Any,
    ) -> GLMModel:
        """Load a released or saved GLM from a directory, a weight file, a known name or a hub id.

        Every released layout is read (:func:`glm_tune.checkpoint.read_checkpoint`: hub, THUDM
        directories and model-parallel shards, FlagAI hub and trainer dicts). ``config`` is for
        checkpoints that carry none: a :class:`GLMConfig`, a dict, a ``config.json`` path or a known
        model name; without it a config-less checkpoint of a released size gets that model's config.
        ``overrides`` replace config fields (``activation="gelu_tanh"``, dropout probabilities,
        ``checkpoint_activations``); an override of ``None`` (an option left unset) leaves its field. The activation is otherwise what the config records, else the
        one the weights' origin computes (erf for the hub layout, tanh for THUDM/FlagAI/PaddleNLP);
        a ``GLMConfig`` passed as ``config`` sets it only when not left at the class default.
        Half-precision weights load as float32 unless ``dtype`` is given.
        """
        source = ckpt.read_checkpoint(name_or_path, cache_dir)
        given: Any = config
        if isinstance(config, GLMConfig):
            given = config.to_dict()
            if config.activation == GLMConfig.activation:
                del given["activation"]
        values = ckpt.checkpoint_config(source, given)
        values.update({key: value for key, value in overrides.items() if value is not None})
        if config is not None:
            where = "the given config"
        elif source.config is not None:
            where = ckpt.CONFIG_FILE
        else:
            where = "the config inferred from the shapes"
        try:
            model_config = GLMConfig.from_dict(values)
        except (TypeError, ValueError) as error:
            raise ckpt.CheckpointError(f"{source.source}: {where}: not a valid GLM config ({error})") from None
        with torch.device("meta"):
            model = cls(model_config)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        state = ckpt.fit_state(source, expected, where)
        model.load_state_dict(state, assign=True)
        # Released fp16 checkpoints load as fp32 unless a dtype is asked for, so the reference
        # tolerances hold by default.
        all_half = all(t.dtype in (torch.float16, torch.bfloat16) for t in state.values())
        model = model.to(dtype) if dtype is not None else model.float() if all_half else model
        return model.eval()

    def save_pretrained(self, directory: str) -> None:
        """Save in the hub layout (``config.json`` + ``model.safetensors``, keys prefixed ``glm.``)."""
        values = self.config.to_dict()
        values["torch_dtype"] = str(next(self.parameters()).dtype).removeprefix("torch.")
        ckpt.write_hub(self.state_dict(), values, directory)

    def gradient_checkpointing_enable(self) -> None:
        self.transformer.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.transformer.gradient_checkpointing = False

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits of hidden states: the output layer is the word embedding, no bias."""
        return F.linear(hidden, self.word_embeddings.weight)

    def target_loss(
        self,
        hidden: torch.Tensor,
        labels: torch.Tensor,
        targets: tuple[torch.Tensor, torch.Tensor] | None = None,
        label_smoothing: float = 0.0,
    ) -> torch.Tensor:
        """Mean cross-entropy of ``labels`` ``[b, q]`` (``IGNORE_INDEX`` where there is no target)
        under the logits of ``hidden`` ``[b, q, h]``, in fp32.

        Logits are computed only at the target positions (Part B, a fraction of the tokens): a
        full ``[b, q, vocab]`` tensor would dominate memory for large vocabularies. ``targets``
        gives those positions as ``(rows, columns)`` when the caller found them on the CPU, since
        finding them on an accelerator waits for it at every step.
        """
        rows, columns = targets if targets is not None else (labels != IGNORE_INDEX).nonzero(as_tuple=True)
        logits = self.lm_logits(hidden[rows, columns]).float()
        return F.cross_entropy(logits, labels[rows, columns], label_smoothing=label_smoothing)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | int | None = None,
        labels: torch.Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
        compute_logits: bool | None = None,
    ) -> GLMOutput:
        """Run GLM.

        Args:
            input_ids: [b, q] token ids.
            position_ids: [b, 2, q] (position, block position); ``None`` gives ``arange(q)``
                with zero block positions, as the port does (also after a cache).
            attention_mask: any form :func:`build_attention_mask` accepts, covering the cached
                columns too when it is a full mask.
            labels: [b, q] target ids for the same positions (not shifted), -100 to ignore.
            past_key_values: cache from an earlier call with ``use_cache=True``.
            use_cache: return the key/value cache of this call (cache + these tokens).
            compute_logits: override ``config.output_predict``; scoring code that needs logits
                at a few positions passes False and calls :meth:`lm_logits` on those rows, which
                saves a [b, L, vocab] tensor.
        """
        b, q = input_ids.shape
        cache_length = past_key_values[0][0].shape[2] if past_key_values else 0
        if position_ids is None:
            position_ids = torch.arange(q, device=input_ids.device).unsqueeze(0)
            if self.config.block_position_encoding:
                position_ids = torch.stack([position_ids, torch.zeros_like(position_ids)], dim=1)
            position_ids = position_ids.expand(b, *position_ids.shape[1:])
        self._check_positions(position_ids, cache_length + q)
        mask = build_attention_mask(attention_mask, b, q, cache_length, input_ids.device)
        # A row that sees nothing (a padded query row in a full mask) would make attention NaN;
        # let it see everything instead. Its output is padding and never read.
        mask = mask | ~mask.any(dim=-1, keepdim=True)
        hidden, presents = self.transformer(
            self.word_embeddings(input_ids), position_ids, mask, past_key_values, use_cache
        )
        if compute_logits is None:
            compute_logits = self.config.output_predict
        logits = self.lm_logits(hidden) if compute_logits else None
        loss = self.target_loss(hidden, labels) if labels is not None else None
        return GLMOutput(logits=logits, last_hidden_states=hidden, loss=loss, past_key_values=presents)

    def _check_positions(self, position_ids: torch.Tensor, length: int) -> None:
        # An out-of-range position would otherwise surface as an opaque index error deep in
        # the embedding (a device-side assert on CUDA, which also ruins the CUDA context).
        # Reading the largest id off an accelerator waits for the device at every step, so
        # there it is read only when it can be out of range: every layout this package builds
        # (Part A positions, blank positions, block positions of a span) stays below the cache
        # plus input length, so an input that fits the table cannot overflow it. On the CPU
        # the exact check is free and catches hand-made position ids too.
        limit = self.transformer.position_embeddings.num_embeddings
        if not position_ids.numel() or (position_ids.device.type != "cpu" and length <= limit):
            return
        largest = int(position_ids.max())
        if largest >= limit:
            raise ValueError(
                f"position id {largest} exceeds the model's maximum "
                f"(max_sequence_length={self.config.max_sequence_length}); shorten the input"
            )


def load_model(name_or_path: Any, dtype: torch.dtype | None = None, cache_dir: str | None = None,
               config: GLMConfig | dict[str, Any] | str | None = None, **overrides: Any) -> GLMModel:
    """:meth:`GLMModel.from_pretrained` as a function (``config`` for checkpoints without one)."""
    return GLMModel.from_pretrained(name_or_path, config=config, dtype=dtype, cache_dir=cache_dir, **overrides)


def save_model(model: GLMModel, directory: Any) -> None:
    """Write ``config.json`` and ``model.safetensors`` with the hub port's key names (``glm.``)."""
    model.save_pretrained(directory)
