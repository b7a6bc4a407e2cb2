"""Generation speed as ratios: batched cached decoding, and beam search without re-encoding.

- greedy throughput (new tokens per second) over contexts of mixed lengths (left-padded, one
  key/value cache per batch, as validation decodes) at batch 1, 8 and 32, as ratios to batch 1;
- beam search with 1, 4 and 8 beams: the context is encoded once and its cache expanded across
  the beams (glm-tune) vs encoded once per beam (the baseline: each beam's copy of the context
  re-encoded, then the same search), times as ratios to 1 beam encoded once.

Every row generates exactly ``--new-tokens`` tokens (``<|endofpiece|>`` is banned), so each
setting does the same work per row. Only ratios are printed: absolute times depend on the machine.

    OMP_NUM_THREADS=1 nice -n 10 python bench/generation.py
    python bench/generation.py --device cuda --hidden 1024 --layers 24 --heads 16
"""

from __future__ import annotations

import argparse
import time

import torch

from glm_tune.cloze.generation import GenerationConfig, _decode, _reorder, encode_context, generate_spans
from glm_tune.model import GLMConfig, GLMModel

SOP, EOP, PAD, MASK = 50006, 50007, 50000, 50003


def clock(fn, device, repeats: int) -> float:
    """Best of ``repeats`` runs after one warm-up: wall time on a GPU, this process's CPU time
    on a CPU (a shared machine's other load then does not count; pin one thread)."""
    fn()
    now = time.perf_counter if device.type == "cuda" else time.process_time
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = now()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, now() - start)
    return best


@torch.no_grad()
def beam_reencoding(model, contexts, masks, config):
    """Baseline: every beam's copy of the context encoded, then the same beam search."""
    beams = config.num_beams
    state = encode_context(model, [c for c in contexts for _ in range(beams)], PAD)
    _reorder(state, torch.arange(len(contexts), device=state.mask_pos.device) * beams)
    state.mask_pos = torch.tensor(masks, device=state.mask_pos.device)
    return _decode(model, state, SOP, EOP, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--contexts", type=int, default=32, help="contexts per greedy measurement")
    parser.add_argument("--beam-contexts", type=int, default=4, help="contexts per beam measurement")
    parser.add_argument("--min-context", type=int, default=40)
    parser.add_argument("--max-context", type=int, default=120)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    if args.device == "cpu":
        torch.set_num_threads(1)
    device = torch.device(args.device)
    config = GLMConfig(hidden_size=args.hidden, num_layers=args.layers, num_attention_heads=args.heads,
                       max_sequence_length=args.max_context + args.new_tokens + 2)
    model = GLMModel(config).to(device).eval()
    lengths = torch.randint(args.min_context, args.max_context + 1, (args.contexts,)).tolist()
    contexts = [[50002, *torch.randint(0, 50000, (n - 3,)).tolist(), MASK, 50000] for n in lengths]
    masks = [len(c) - 2 for c in contexts]
    print(f"model: {config.num_parameters() / 1e6:.1f}M params, {args.layers}x{args.hidden} on {device}; "
          f"contexts of {args.min_context}-{args.max_context} tokens, {args.new_tokens} new tokens each")

    greedy = GenerationConfig(max_new_tokens=args.new_tokens, banned_ids=(EOP,))

    def run_batches(batch: int):
        for start in range(0, len(contexts), batch):
            generate_spans(model, contexts[start:start + batch], masks[start:start + batch], sop_id=SOP, eop_id=EOP,
                           pad_id=PAD, config=greedy)

    print(f"\ngreedy, {len(contexts)} contexts: tokens/s as a ratio to batch 1")
    base = None
    for batch in (1, 8, 32):
        rate = len(contexts) * args.new_tokens / clock(lambda: run_batches(batch), device, args.repeats)
        base = base or rate
        print(f"  batch {batch:>2}: {rate / base:6.2f}x")

    few, few_masks = contexts[:args.beam_contexts], masks[:args.beam_contexts]
    print(f"\nbeam search, {len(few)} contexts: time as a ratio to 1 beam (lower is better)")
    print(f"  {'beams':>5} {'encode once':>12} {'re-encode':>10} {'re-encode / once':>17}")
    unit = None
    for beams in (1, 4, 8):
        beam = GenerationConfig(strategy="beam", num_beams=beams, max_new_tokens=args.new_tokens, banned_ids=(EOP,))
        once = clock(lambda: generate_spans(model, few, few_masks, sop_id=SOP, eop_id=EOP, pad_id=PAD, config=beam),
                     device, args.repeats)
        again = clock(lambda: beam_reencoding(model, few, few_masks, beam), device, args.repeats)
        unit = unit or once
        print(f"  {beams:>5} {once / unit:12.2f} {again / unit:10.2f} {again / once:17.2f}")


if __name__ == "__main__":
    main()
