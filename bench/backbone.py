"""Backbone speed and memory: glm-tune's GLM against naive baselines in the same process.

- forward+backward tokens/s: scaled-dot-product attention (ours) vs the port's explicit
  `softmax(scores * mask - 65504 * (1 - mask))` attention, and with activation checkpointing;
  memory is the bytes autograd saves for the backward pass (device independent), plus the CUDA
  peak on a GPU.
- decoding tokens/s: the key/value cache vs recomputing the whole prefix at every step (what
  the Hugging Face port does under current transformers).

Absolute numbers on shared machines are noise; read the ratios.

    python bench/backbone.py                      # CPU, a small model
    python bench/backbone.py --device cuda --dtype bfloat16 --hidden 1024 --layers 24 --heads 16
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

from glm_tune.model import MASKED_SCORE, GLMConfig, GLMModel, SelfAttention


def naive_attention(self, x, mask, past):
    """The port's attention: explicit scores, multiplicative mask, softmax, dropout."""
    b, q, _ = x.shape
    query, key, value = self.query_key_value(x).view(b, q, 3, self.num_heads, self.head_dim).unbind(2)
    query, key, value = (t.transpose(1, 2) for t in (query, key, value))
    if past is not None:
        key, value = torch.cat([past[0], key], 2), torch.cat([past[1], value], 2)
    scores = query @ key.transpose(-1, -2) / self.head_dim**0.5
    m = mask.to(scores.dtype)
    probs = F.softmax(scores * m + MASKED_SCORE * (1 - m), dim=-1)
    probs = F.dropout(probs, self.attention_dropout, self.training)
    out = (probs @ value).transpose(1, 2).reshape(b, q, -1)
    return self.output_dropout(self.dense(out)), (key, value)


@contextlib.contextmanager
def attention(impl):
    original = SelfAttention.forward
    if impl == "naive":
        SelfAttention.forward = naive_attention
    try:
        yield
    finally:
        SelfAttention.forward = original


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    fn()  # warm-up
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def train_step(model, ids, pos, sep):
    def step():
        model.zero_grad(set_to_none=True)
        out = model(ids, position_ids=pos, attention_mask=sep, labels=ids)
        out.loss.backward()

    return step


def saved_bytes(model, ids, pos, sep):
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(ids, position_ids=pos, attention_mask=sep, labels=ids).loss.backward()
    return total


def decode(model, ids, pos, sep, new_tokens, cached):
    """Greedy-like decoding of `new_tokens` blocks after a context, with or without the cache."""
    b, length = ids.shape
    mask_pos = pos[:, 0, -1:]

    def step_positions(step):
        return torch.stack([mask_pos, torch.full_like(mask_pos, step + 1)], dim=1)

    @torch.no_grad()
    def run():
        token = ids[:, -1:]
        if cached:
            out = model(ids, position_ids=pos, attention_mask=sep, use_cache=True)
            cache = out.past_key_values
            for step in range(new_tokens):
                token = out.logits[:, -1:].argmax(-1)
                out = model(token, position_ids=step_positions(step), past_key_values=cache, use_cache=True)
                cache = out.past_key_values
        else:
            seq, positions = ids, pos
            for step in range(new_tokens):
                out = model(seq, position_ids=positions, attention_mask=sep)
                token = out.logits[:, -1:].argmax(-1)
                seq = torch.cat([seq, token], 1)
                positions = torch.cat([positions, step_positions(step)], 2)
        return token

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=50048)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    config = GLMConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, num_layers=args.layers, num_attention_heads=args.heads,
        max_sequence_length=args.length + args.new_tokens + 1,
    )
    model = GLMModel(config).to(device=device, dtype=dtype).train()
    for module in model.modules():  # dropout off so the variants do the same arithmetic
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.transformer.layers.apply(lambda m: setattr(m, "attention_dropout", 0.0) if isinstance(m, SelfAttention) else None)
    ids = torch.randint(0, 50000, (args.batch, args.length), device=device)
    pos = torch.stack([torch.arange(args.length), torch.zeros(args.length, dtype=torch.long)]).to(device)
    pos = pos.expand(args.batch, -1, -1)
    sep = torch.full((args.batch,), args.length // 2, device=device)
    tokens = args.batch * args.length
    print(f"model: {config.num_parameters() / 1e6:.1f}M params, {args.layers}x{args.hidden}, "
          f"batch {args.batch} x {args.length}, {args.dtype} on {device}")

    rows = []
    for name, impl, ckpt in [("naive attention (baseline)", "naive", False), ("sdpa", "sdpa", False),
                             ("sdpa + checkpointing", "sdpa", True)]:
        model.transformer.gradient_checkpointing = ckpt
        with attention(impl):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            seconds = timed(train_step(model, ids, pos, sep), device, args.repeats)
            peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
            saved = saved_bytes(model, ids, pos, sep) / 2**20
        rows.append((name, tokens / seconds, saved, peak))
    model.transformer.gradient_checkpointing = False
    base = rows[0][1]
    print("\nforward+backward")
    print(f"{'variant':28} {'tokens/s':>10} {'ratio':>7} {'saved MiB':>10} {'cuda peak MiB':>14}")
    for name, speed, saved, peak in rows:
        print(f"{name:28} {speed:10.0f} {speed / base:7.2f} {saved:10.1f} {peak:14.1f}")

    model.eval()
    dec_sep = torch.full((args.batch,), args.length, device=device)
    uncached = timed(decode(model, ids, pos, dec_sep, args.new_tokens, cached=False), device, 1)
    cached = timed(decode(model, ids, pos, dec_sep, args.new_tokens, cached=True), device, 1)
    new = args.batch * args.new_tokens
    print(f"\ndecoding {args.new_tokens} new tokens after {args.length} context tokens (batch {args.batch})")
    print(f"{'variant':28} {'tokens/s':>10} {'ratio':>7}")
    print(f"{'recompute prefix (baseline)':28} {new / uncached:10.1f} {1.0:7.2f}")
    print(f"{'key/value cache':28} {new / cached:10.1f} {uncached / cached:7.2f}")


if __name__ == "__main__":
    main()
