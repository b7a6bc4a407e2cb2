"""bench/gpu.py: the FLOP count it divides by, and its smoke run (the GPU code paths on a CPU)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import torch
import torch.nn.functional as F
from conftest import PROJECT_ROOT
from torch.utils.flop_counter import FlopCounterMode

SCRIPT = PROJECT_ROOT / "bench" / "gpu.py"


def _bench():
    if "bench_gpu" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_gpu"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["bench_gpu"]


def test_training_flops_by_hand():
    gpu = _bench()
    # 1 layer, h = 4, 3 tokens, vocab 10, 1 row projected. Per token: QKV 2*4*12, attention
    # output 2*4*4, MLP 2*4*16 twice, scores 2*3*4 and probs @ V 2*3*4; the projected row 2*4*10.
    forward = 3 * (96 + 32 + 128 + 128 + 24 + 24) + 2 * 4 * 10
    assert gpu.training_flops(gpu.Shape(1, 4, 2, vocab=10, seq=3), batch=1, seq=3, projected_rows=1) == 3 * forward


def test_training_flops_match_the_matmuls_torch_counts():
    gpu = _bench()
    shape = gpu.Shape(2, 16, 2, vocab=40, seq=6)
    torch.manual_seed(0)
    model = gpu.GLMModel(shape.config())
    batch = gpu.infilling_batch(shape, 3, torch.Generator().manual_seed(0))
    rows, columns = (batch["labels"] != -100).nonzero(as_tuple=True)
    with FlopCounterMode(display=False) as counter:
        hidden = model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"],
                       compute_logits=False).last_hidden_states
        F.cross_entropy(model.lm_logits(hidden[rows, columns]), batch["labels"][rows, columns]).backward()
    assert counter.get_total_flops() == gpu.training_flops(shape, 3, shape.seq, len(rows))


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_smoke_run_writes_every_figure_or_the_error(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["device"].startswith("cpu") and results["smoke"] is True
    assert results["versions.torch"] == torch.__version__
    for key in ["train.glm-large.mfu", "train.glm-large.tokens_per_s", "lora_10b.peak_memory_gib", "lora_10b.step_s",
                "syncs.before.tokens_per_s", "syncs.after.tokens_per_s", "syncs.speedup",
                "scoring.glm-large.examples_per_s", "generation.glm-large.batch1.tokens_per_s",
                "generation.glm-large.batch32.tokens_per_s"]:
        assert _finite(results[key]), key
    assert 0 < results["train.glm-large.mfu"] < 1
    assert results["lora_10b.trainable_parameters"] < results["lora_10b.parameters"]
    # Lightning runs 16-mixed as bf16-mixed on a CPU, and says so in the record.
    assert results["train.glm-large.16-mixed.precision"] == "bf16-mixed"
    # Lightning's FSDP refuses the CPU: recorded as the section's error, the run goes on.
    for variant in ("fsdp-bf16-true", "fsdp-bf16-true-offload", "fsdp-offload"):
        assert "requires a GPU accelerator" in results[f"full_10b.{variant}"]["error"]
    assert not [k for k, v in results.items() if isinstance(v, dict) and "error" in v and "full_10b" not in k]
