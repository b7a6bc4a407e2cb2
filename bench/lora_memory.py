"""Peak training memory of LoRA against full finetuning, on the same GLM, batch and step.

What is measured, for one AdamW step on a random batch (dropout off):

- weights: bytes of every parameter (LoRA: the frozen GLM plus the adapters);
- gradients: bytes of the ``.grad`` tensors after backward (only trainable parameters get one);
- optimizer state: bytes of AdamW's state tensors after the step (exp_avg, exp_avg_sq per trainable
  parameter);
- activations: bytes autograd saves for the backward pass (``saved_tensors_hooks``), each storage
  counted once and parameters left out (they are already counted as weights).

Their sum is the peak a step needs to hold at once (temporaries of single kernels aside). On a GPU
the CUDA allocator's peak over the same step is printed too. Absolute sizes depend on the shape;
read the ratio.

    python bench/lora_memory.py                                    # CPU, glm-tiny's shape
    python bench/lora_memory.py --device cuda --dtype bfloat16 --hidden 1024 --layers 24 --heads 16
"""

from __future__ import annotations

import argparse

import torch

from glm_tune.model import GLMConfig, GLMModel
from glm_tune.training.lora import DEFAULT_TARGETS, add_lora
from glm_tune.training.optim import build_optimizer


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def measure(config: GLMConfig, lora_rank: int, ids, pos, sep, device, dtype) -> dict[str, float]:
    torch.manual_seed(0)
    model = GLMModel(config).to(device=device, dtype=dtype).train()
    if lora_rank:
        add_lora(model, lora_rank, 2 * lora_rank, 0.0, DEFAULT_TARGETS)
        model.to(device=device, dtype=dtype)
    optimizer = build_optimizer(model, learning_rate=1e-4, weight_decay=0.1, total_steps=10)["optimizer"]
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    activations = 0

    def pack(tensor):
        nonlocal activations
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in parameters and pointer not in seen:
            seen.add(pointer)
            activations += tensor.untyped_storage().nbytes()
        return tensor

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(ids, position_ids=pos, attention_mask=sep, labels=ids).loss
    loss.backward()
    optimizer.step()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    result = {
        "weights": _bytes(model.parameters()),
        "gradients": _bytes(p.grad for p in model.parameters() if p.grad is not None),
        "optimizer state": _bytes(t for state in optimizer.state.values() for t in state.values()
                                  if torch.is_tensor(t) and t.dim() > 0),
        "activations": activations,
    }
    result = {k: v / 2**20 for k, v in result.items()}
    result["total"] = sum(result.values())
    result["cuda peak"] = peak
    result["trainable params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=16384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--lora-rank", type=int, default=8)
    args = parser.parse_args()

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    config = GLMConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_layers=args.layers,
                       num_attention_heads=args.heads, max_sequence_length=args.length + 1,
                       embedding_dropout_prob=0.0, attention_dropout_prob=0.0, output_dropout_prob=0.0)
    torch.manual_seed(0)
    ids = torch.randint(0, args.vocab - 16, (args.batch, args.length), device=device)
    pos = torch.stack([torch.arange(args.length), torch.zeros(args.length, dtype=torch.long)]).to(device)
    pos = pos.expand(args.batch, -1, -1)
    sep = torch.full((args.batch,), args.length // 2, device=device)
    print(f"model: {config.num_parameters() / 1e6:.1f}M params, {args.layers}x{args.hidden}, vocab {args.vocab}, "
          f"batch {args.batch} x {args.length}, {args.dtype} on {device}; LoRA rank {args.lora_rank} on "
          f"{', '.join(DEFAULT_TARGETS)}")
    full = measure(config, 0, ids, pos, sep, device, dtype)
    lora = measure(config, args.lora_rank, ids, pos, sep, device, dtype)
    print(f"\n{'MiB':18} {'full (baseline)':>16} {'LoRA':>10} {'LoRA / full':>12}")
    for key in ("weights", "gradients", "optimizer state", "activations", "total", "cuda peak"):
        ratio = lora[key] / full[key] if full[key] else float("nan")
        print(f"{key:18} {full[key]:16.1f} {lora[key]:10.1f} {ratio:12.3f}")
    print(f"{'trainable params':18} {full['trainable params']:16,} {lora['trainable params']:10,} "
          f"{lora['trainable params'] / full['trainable params']:12.4f}")


if __name__ == "__main__":
    main()
