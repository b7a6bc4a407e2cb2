"""Cloze engine speed: packed candidate scoring and cached generation, against baselines run in
the same process.

- scoring k = 1, 4, 8, 16 candidates per example: all candidates packed after one copy of the
  context (glm-tune) vs one sequence per candidate (GLM's original multi-token scorer, the
  baseline); both give the same scores (tests/cloze/test_scoring.py).
- generating 128 new tokens: glm-tune's cached greedy decoding vs recomputing the whole prefix
  every step (what the Hugging Face port does under current transformers).

    python bench/cloze.py
    python bench/cloze.py --device cuda --hidden 1024 --layers 24 --heads 16
"""

from __future__ import annotations

import argparse
import time

import torch

from glm_tune.cloze.generation import GenerationConfig, generate_spans
from glm_tune.cloze.scoring import score_candidates
from glm_tune.model import GLMConfig, GLMModel

SOP, EOP, PAD, MASK = 50006, 50007, 50000, 50003


def clock(fn, device):
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


@torch.no_grad()
def one_sequence_per_candidate(model, contexts, masks, candidates):
    """Baseline: every candidate in its own row, the context repeated, one batched forward.

    Like the packed scorer it projects only the rows that predict a target onto the vocabulary,
    so the ratio measures packing alone.
    """
    device = next(model.parameters()).device
    rows = [(c, m, cand) for c, m, cands in zip(contexts, masks, candidates) for cand in cands]
    width = max(len(c) + len(cand) + 1 for c, _, cand in rows)
    ids = torch.full((len(rows), width), PAD)
    pos = torch.zeros(len(rows), 2, width, dtype=torch.long)
    targets = []
    for r, (context, mask, cand) in enumerate(rows):
        target = cand + [EOP]
        seq = context + [SOP] + target[:-1]
        ids[r, : len(seq)] = torch.tensor(seq)
        pos[r, 0, : len(seq)] = torch.tensor(list(range(len(context))) + [mask] * len(target))
        pos[r, 1, len(context) : len(seq)] = torch.arange(1, len(target) + 1)
        targets.append((len(context), target))
    seps = torch.tensor([len(c) for c, _, _ in rows])
    hidden = model(ids.to(device), position_ids=pos.to(device), attention_mask=seps.to(device),
                   compute_logits=False).last_hidden_states
    return [model.lm_logits(hidden[r, s : s + len(t)]).log_softmax(-1).gather(-1, torch.tensor(t, device=device)[:, None]).sum()
            for r, (s, t) in enumerate(targets)]


@torch.no_grad()
def recompute_prefix(model, contexts, masks, new_tokens):
    """Baseline greedy decoding without a cache: a full forward over the prefix per token."""
    device = next(model.parameters()).device
    outputs = []
    for context, mask in zip(contexts, masks):
        ids, positions, blocks = context + [SOP], list(range(len(context))) + [mask], [0] * len(context) + [1]
        for _ in range(new_tokens):
            logits = model(torch.tensor([ids], device=device), position_ids=torch.tensor([[positions, blocks]], device=device),
                           attention_mask=len(context)).logits
            ids.append(int(logits[0, -1].argmax()))
            positions.append(mask)
            blocks.append(blocks[-1] + 1)
        outputs.append(ids[len(context) + 1 :])
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--candidate-length", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = GLMConfig(hidden_size=args.hidden, num_layers=args.layers, num_attention_heads=args.heads,
                       max_sequence_length=args.context + args.new_tokens + 2)
    model = GLMModel(config).to(device).eval()
    print(f"model: {config.num_parameters() / 1e6:.1f}M params, {args.layers}x{args.hidden} on {device}; "
          f"{args.batch} examples of {args.context} context tokens")

    contexts = [[50002, *torch.randint(0, 50000, (args.context - 3,)).tolist(), MASK, 50000] for _ in range(args.batch)]
    masks = [args.context - 2] * args.batch
    print(f"\nscoring, candidates of {args.candidate_length} tokens (+eop)")
    print(f"{'k':>3} {'one-per-candidate s':>20} {'packed s':>10} {'speed-up':>9}")
    for k in (1, 4, 8, 16):
        candidates = [[torch.randint(0, 50000, (args.candidate_length,)).tolist() for _ in range(k)] for _ in contexts]
        base = clock(lambda: one_sequence_per_candidate(model, contexts, masks, candidates), device)
        with torch.no_grad():
            packed = clock(lambda: score_candidates(model, contexts, masks, candidates, sop_id=SOP, eop_id=EOP, pad_id=PAD), device)
        print(f"{k:>3} {base:20.3f} {packed:10.3f} {base / packed:9.2f}")

    few = contexts[:2]
    config_greedy = GenerationConfig(max_new_tokens=args.new_tokens, banned_ids=(EOP,))
    base = clock(lambda: recompute_prefix(model, few, masks[:2], args.new_tokens), device)
    cached = clock(lambda: generate_spans(model, few, masks[:2], sop_id=SOP, eop_id=EOP, pad_id=PAD, config=config_greedy), device)
    print(f"\ngreedy generation of {args.new_tokens} tokens for {len(few)} examples")
    print(f"recompute prefix (baseline) {base:8.2f} s\nkey/value cache             {cached:8.2f} s\nspeed-up {base / cached:.1f}x")


if __name__ == "__main__":
    main()
