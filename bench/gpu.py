"""Speed and scale on an accelerator: glm-large MFU, scoring and decoding, the glm-10b memory plan.

One run, random weights of the real shapes (nothing is downloaded), every section independent:
a section that fails is recorded as ``{"error": "..."}`` and the run goes on. The results are
written after every section (a crash keeps what was measured) and printed as a table.

    python bench/gpu.py                               # the full run, on a GPU: <= 8 min on an H100/H200
    python bench/gpu.py --sections train,syncs        # some sections
    python bench/gpu.py --smoke --output /tmp/g.json  # the same code paths, tiny shapes, CPU, seconds
    python bench/gpu.py --plan cpu-small --sections syncs --output bench/results/syncs-cpu.json

Sections (``--sections``, comma-separated, default all, in this order):

- ``train``: glm-large (24 layers, hidden 1024, 16 heads, vocab 50048, seq 512) trained on GLM's
  blank-infilling loss through glm-tune's own ``PretrainModule`` and ``build_trainer``, in
  bf16-mixed: tokens/s, MFU, peak memory, and the host-device syncs per step;
- ``train_fp16``: the same in 16-mixed with the loss scaler;
- ``syncs``: the same bf16-mixed run with the per-step host reads that the code used to make
  (position-range check, loss ``isfinite``, boolean target index and count, foreach AdamW)
  put back (:func:`legacy_syncs`), then with only the fused AdamW of now, then as it is now:
  tokens/s and syncs per step of each;
- ``scoring``: packed scoring of 8 candidates per example (glm_tune.cloze.scoring), examples/s;
- ``generation``: cached greedy decoding (glm_tune.cloze.generation), new tokens/s at batch 1, 8, 32;
- ``lora_10b``: glm-10b shape (48 layers, hidden 4096, 64 heads): one LoRA training step in bf16
  with gradient checkpointing (``peft`` when importable, else the minimal wrapper below);
- ``full_10b``: full finetuning of the glm-10b shape with Lightning's FSDP (:data:`FULL_VARIANTS`):
  bf16-true on the GPU; bf16-true with parameters, gradients and the optimizer step offloaded
  to the CPU; bf16-mixed (fp32 master weights) offloaded, when the host memory can hold it
  (16 bytes per parameter: 147 GiB, more than a 128 GiB machine has). Each in its own
  process so that an out-of-memory kill is recorded instead of ending the run (``--smoke``
  runs them in this process).

MFU is model FLOPs (:func:`training_flops`) per second over the device's dense bf16/fp16 peak
(:data:`PEAK_TFLOPS`, or ``--peak_tflops``); on a CPU the peak is a measured matmul rate.

JSON schema: one flat object with dotted keys.

- ``device`` (str), ``smoke`` (bool), ``plan`` (str), ``versions.torch``, ``versions.cuda``, ``versions.lightning``,
  ``versions.glm-tune``, ``versions.deepspeed``, ``versions.peft`` (str or null), ``peak_tflops``,
  ``peak_source``, ``wall_s``;
- per section, ``<prefix>.<figure>`` numbers, e.g. ``train.glm-large.tokens_per_s``,
  ``train.glm-large.mfu``, ``train.glm-large.peak_memory_gib``, ``train.glm-large.syncs_per_step``,
  ``train.glm-large.16-mixed.mfu``, ``syncs.before.tokens_per_s``, ``syncs.speedup``,
  ``scoring.glm-large.examples_per_s``, ``generation.glm-large.batch8.tokens_per_s``,
  ``lora_10b.peak_memory_gib``, ``lora_10b.step_s``, ``lora_10b.impl``,
  ``full_10b.fsdp-bf16-true.peak_memory_gib``, ``full_10b.fsdp-bf16-true-offload.step_s``; the shapes,
  batch sizes and step counts measured are recorded beside them;
- a failed section: ``<section>: {"error": "ExceptionType: message"}``, with the figures of the
  section that were measured before the failure kept;
- ``syncs_sites.<section>``: {"file:line": count} of the synchronizing calls seen (CUDA only,
  from ``torch.cuda.set_sync_debug_mode("warn")``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

import glm_tune
from glm_tune.cloze.generation import GenerationConfig, generate_spans
from glm_tune.cloze.scoring import score_candidates
from glm_tune.constants import IGNORE_INDEX
from glm_tune.model import GLMBlock, GLMConfig, GLMModel
from glm_tune.pretraining.pretrain import PretrainConfig, PretrainModule
from glm_tune.training.trainer import TrainerOptions, build_trainer

# full_10b variants: (precision, parameters and optimizer offloaded to the CPU, bytes per
# parameter that must then fit in host memory: weights, gradients and AdamW's two moments).
FULL_VARIANTS = {"fsdp-bf16-true": ("bf16-true", False, 0), "fsdp-bf16-true-offload": ("bf16-true", True, 8),
                 "fsdp-offload": ("bf16-mixed", True, 16)}
SECTIONS = ("train", "train_fp16", "syncs", "scoring", "generation", "lora_10b", "full_10b")
# Dense (no sparsity) bf16/fp16 tensor-core peaks from the vendors' data sheets, in TFLOP/s.
PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0,
               "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}
GIB = 2**30


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    vocab: int = 50048
    seq: int = 512

    def config(self, **overrides) -> GLMConfig:
        return GLMConfig(vocab_size=self.vocab, hidden_size=self.hidden, num_layers=self.layers,
                         num_attention_heads=self.heads, max_sequence_length=max(1024, self.seq), **overrides)


@dataclass(frozen=True)
class Plan:
    """Shapes, batch sizes and step counts: sized so that the full run fits 8 minutes on an H100."""

    large: Shape = Shape(24, 1024, 16)
    big: Shape = Shape(48, 4096, 64)
    train_batch: int = 16
    warmup: int = 10
    timed: int = 30
    counted: int = 10  # steps run under the sync detector, after the timed ones
    score_batch: int = 32
    score_context: int = 256
    candidates: int = 8
    gen_context: int = 128
    gen_tokens: int = 64
    gen_batches: tuple[int, ...] = (1, 8, 32)
    gen_repeats: int = 2
    big_batch: int = 4
    big_warmup: int = 1
    big_timed: int = 3
    full_batch: int = 1
    full_timeout_s: int = 150
    lora_rank: int = 16


# The CPU before/after of the sync removal (bench/README.md): the 6-layer, 512-hidden shape of
# the earlier CPU benchmarks.
CPU_SMALL = Plan(large=Shape(6, 512, 8, seq=128), train_batch=4, warmup=3, timed=10, counted=0)
SMOKE = Plan(large=Shape(2, 64, 4, vocab=512, seq=32), big=Shape(2, 128, 8, vocab=512, seq=32), train_batch=2,
             warmup=1, timed=2, counted=2, score_batch=2, score_context=16, gen_context=8, gen_tokens=4,
             gen_repeats=1, big_batch=2, big_timed=1, full_timeout_s=120, lora_rank=4)


# ----------------------------------------------------------------------------- FLOPs
def training_flops(shape: Shape, batch: int, seq: int, projected_rows: int) -> int:
    """Model FLOPs of one training step: forward + backward = 3 x forward, 2 FLOPs per multiply-add.

    forward = batch * seq * layers * (24 h^2 + 4 seq h) + projected_rows * 2 h V, where per token
    and layer 24 h^2 is the QKV (6 h^2), attention output (2 h^2) and MLP (16 h^2) matmuls, and
    4 seq h the attention scores (Q K^T) and their product with V over all ``seq`` keys (GLM's
    mask is applied inside full attention, nothing is skipped); 2 h V per row projected onto the
    (tied) vocabulary, which glm-tune does only for the rows that have a target. Not counted:
    embedding lookups, LayerNorm, softmax, biases, dropout, and the recomputation of gradient
    checkpointing (MFU counts the model's FLOPs, not the hardware's).
    """
    h = shape.hidden
    forward = batch * seq * shape.layers * (24 * h * h + 4 * seq * h) + projected_rows * 2 * h * shape.vocab
    return 3 * forward


def infilling_batch(shape: Shape, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A collated blank-infilling batch (glm_tune.pretraining.infilling.collate's keys): Part A is the first
    two thirds, Part B one span filling a blank in its middle; only Part B has targets."""
    seq = shape.seq
    part_b = seq // 3
    part_a = seq - part_b
    position = torch.cat([torch.arange(part_a), torch.full((part_b,), part_a // 2)])
    block = torch.cat([torch.zeros(part_a, dtype=torch.long), torch.arange(1, part_b + 1)])
    labels = torch.full((batch, seq), IGNORE_INDEX)
    labels[:, part_a:] = torch.randint(shape.vocab, (batch, part_b), generator=generator)
    return {
        "input_ids": torch.randint(shape.vocab, (batch, seq), generator=generator),
        "position_ids": torch.stack([position, block]).expand(batch, 2, seq).clone(),
        "sep": torch.full((batch,), part_a),
        "labels": labels,
        "objective": torch.zeros(batch, dtype=torch.long),
    }


# ----------------------------------------------------------------------------- measuring
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def count_syncs(device: torch.device, sites: Counter):
    """Count the synchronizing CUDA calls (``torch.cuda.set_sync_debug_mode``) by call site."""
    if device.type != "cuda":
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message):
            sites[f"{Path(w.filename).name}:{w.lineno}"] += 1


class StepClock(Callback):
    """Times steps [warmup, warmup + timed) between two device syncs, then counts the syncs of
    the next ``counted`` steps."""

    def __init__(self, warmup: int, timed: int, counted: int) -> None:
        self.warmup, self.timed, self.counted = warmup, timed, counted
        self.seconds = None
        self.sites: Counter = Counter()
        self._counting = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        device = pl_module.device
        if batch_idx == self.warmup - 1:
            sync(device)
            self._start = time.perf_counter()
        if batch_idx == self.warmup + self.timed - 1:
            sync(device)
            self.seconds = time.perf_counter() - self._start
            if self.counted:
                self._counting = count_syncs(device, self.sites)
                self._counting.__enter__()
        if self._counting is not None and batch_idx == self.warmup + self.timed + self.counted - 1:
            self._counting.__exit__(None, None, None)
            self._counting = None


class BenchModule(PretrainModule):
    """glm-tune's pretraining step (loss, target selection, optimizer) fed one repeated batch."""

    def __init__(self, model: GLMModel, batch: dict[str, torch.Tensor], steps: int) -> None:
        super().__init__(model, None, None, PretrainConfig(learning_rate=1e-5, warmup_ratio=0.0))
        self.batch, self.steps = batch, steps

    def train_dataloader(self) -> DataLoader:
        return DataLoader([self.batch] * self.steps, batch_size=None)


def peak_tflops(device: torch.device, dtype: torch.dtype, override: float | None) -> tuple[float, str]:
    if override:
        return override, "--peak_tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_TFLOPS.items():
            if key in name:
                return value, f"data sheet ({key}, dense bf16)"
        raise RuntimeError(f"no known peak for {name!r}; pass --peak_tflops")
    # A CPU has no data-sheet number here: the rate of a large matmul stands in for the peak.
    a = torch.randn(512, 512, dtype=dtype)
    a @ a
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 0.3:
        a @ a
        n += 1
    return 2 * 512**3 * n / (time.perf_counter() - start) / 1e12, f"measured {dtype} 512x512 matmul"


@contextlib.contextmanager
def built_in(device: torch.device, dtype: torch.dtype):
    """Make a model's parameters directly on ``device`` in ``dtype``: a 10B model is never
    materialised in fp32 or on the wrong side first."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(saved)


def fresh(device: torch.device) -> None:
    """Free what the last section left (a child process sees only what this one gives back)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("default")  # in case a run stopped while syncs were counted
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


# ----------------------------------------------------------------------------- the "before" code
@contextlib.contextmanager
def legacy_syncs(old_optimizer: bool = True):
    """Put back, as they were, the per-step host reads this code no longer makes: the position
    range read off the device, the loss checked on the host before every backward pass, the
    boolean target index and its count; with ``old_optimizer`` also the foreach AdamW (the
    device-side skip that replaced the host check needs the fused one)."""
    from glm_tune.training import optim, trainer

    def check_positions(self, position_ids, length):
        limit = self.transformer.position_embeddings.num_embeddings
        if position_ids.numel() and int(position_ids.max()) >= limit:
            raise ValueError(f"position id {int(position_ids.max())} exceeds the model's maximum")

    def loss(self, batch):
        hidden = self.model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"],
                            compute_logits=False).last_hidden_states
        targets = batch["labels"] != IGNORE_INDEX
        logits = self.model.lm_logits(hidden[targets]).float()
        return F.cross_entropy(logits, batch["labels"][targets]), int(targets.sum())

    class ForeachAdamW(torch.optim.AdamW):
        def __init__(self, *args, fused=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._step_supports_amp_scaling = False  # build_optimizer deletes it

    saved = (GLMModel._check_positions, PretrainModule._loss, trainer._skips_on_device, torch.optim.AdamW)
    GLMModel._check_positions, PretrainModule._loss = check_positions, loss
    trainer._skips_on_device = lambda optimizer: False
    if old_optimizer:
        optim.torch.optim.AdamW = ForeachAdamW
    try:
        yield
    finally:
        GLMModel._check_positions, PretrainModule._loss, trainer._skips_on_device, torch.optim.AdamW = saved


# ----------------------------------------------------------------------------- sections
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = {"full": Plan(), "cpu-small": CPU_SMALL, "smoke": SMOKE}[args.plan]
        self.device = torch.device("cuda" if torch.cuda.is_available() and args.plan == "full" else "cpu")
        # A CPU has no fast bf16 matmul everywhere; the smoke run is about code paths, not speed.
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.results: dict = {}
        self.generator = torch.Generator().manual_seed(0)

    # -- training through glm-tune's trainer ---------------------------------------------------
    def _fit(self, precision: str, prefix: str, root: Path) -> dict:
        p, shape = self.plan, self.plan.large
        fresh(self.device)
        torch.manual_seed(0)
        with built_in(self.device, torch.float32):  # the CPU's generator is slow for 335M values
            model = GLMModel(shape.config())
        batch = infilling_batch(shape, p.train_batch, self.generator)
        steps = p.warmup + p.timed + p.counted
        clock = StepClock(p.warmup, p.timed, p.counted)
        options = TrainerOptions(max_epochs=1, max_steps=steps, precision=precision,
                                 accelerator=self.device.type, progress_bar=False, loggers=[])
        trainer = build_trainer(options, root, callbacks=[clock], enable_checkpointing=False)
        module = BenchModule(model, batch, steps)
        trainer.fit(module)
        if clock.seconds is None:
            raise RuntimeError(f"training stopped after {trainer.global_step} of {steps} steps")
        projected = int((batch["labels"] != IGNORE_INDEX).sum())
        flops = training_flops(shape, p.train_batch, shape.seq, projected)
        step_s = clock.seconds / p.timed
        out = {
            # Lightning runs 16-mixed as bf16-mixed on a CPU (with a warning): the one that ran.
            f"{prefix}.precision": trainer.precision,
            f"{prefix}.batch_size": p.train_batch,
            f"{prefix}.seq_length": shape.seq,
            f"{prefix}.projected_rows_per_step": projected,
            f"{prefix}.flops_per_step": flops,
            f"{prefix}.timed_steps": p.timed,
            f"{prefix}.step_ms": step_s * 1e3,
            f"{prefix}.tokens_per_s": p.train_batch * shape.seq / step_s,
            f"{prefix}.mfu": flops / step_s / (self.results["peak_tflops"] * 1e12),
            f"{prefix}.peak_memory_gib": peak_gib(self.device),
        }
        if self.device.type == "cuda":
            out[f"{prefix}.syncs_per_step"] = sum(clock.sites.values()) / p.counted
            self.results[f"syncs_sites.{prefix}"] = dict(clock.sites.most_common(20))
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is not None:
            out[f"{prefix}.final_loss_scale"] = float(scaler.get_scale())
        return out

    def train(self, root: Path) -> dict:
        return self._fit("bf16-mixed" if self.device.type == "cuda" else "32-true", "train.glm-large", root)

    def train_fp16(self, root: Path) -> dict:
        return self._fit("16-mixed", "train.glm-large.16-mixed", root)

    def syncs(self, root: Path) -> dict:
        precision = "bf16-mixed" if self.device.type == "cuda" else "32-true"
        with legacy_syncs():
            before = self._fit(precision, "before", root / "before")
        with legacy_syncs(old_optimizer=False):
            fused = self._fit(precision, "fused_adamw_only", root / "fused")
        after = self._fit(precision, "after", root / "after")
        out = {f"syncs.{k}": v for k, v in {**before, **fused, **after}.items()
               if k.rsplit(".", 1)[1] in ("tokens_per_s", "step_ms", "syncs_per_step", "precision")}
        out["syncs.speedup"] = after["after.tokens_per_s"] / before["before.tokens_per_s"]
        out["syncs.speedup_without_the_optimizer"] = after["after.tokens_per_s"] / fused["fused_adamw_only.tokens_per_s"]
        return out

    # -- inference -----------------------------------------------------------------------------
    def _eval_model(self, shape: Shape) -> GLMModel:
        fresh(self.device)
        torch.manual_seed(0)
        with built_in(self.device, self.dtype):
            model = GLMModel(shape.config())
        return model.eval()

    def scoring(self, root: Path) -> dict:
        p, shape = self.plan, self.plan.large
        model = self._eval_model(shape)
        g = self.generator
        contexts = [torch.randint(shape.vocab, (p.score_context,), generator=g).tolist() for _ in range(p.score_batch)]
        masks = [p.score_context // 2] * p.score_batch
        candidates = [[torch.randint(shape.vocab, (1 + j % 4,), generator=g).tolist() for j in range(p.candidates)]
                      for _ in range(p.score_batch)]
        ids = dict(sop_id=1, eop_id=2, pad_id=0)

        def run():
            with torch.inference_mode():
                return score_candidates(model, contexts, masks, candidates, **ids)

        run()
        sync(self.device)
        start = time.perf_counter()
        repeats = max(2, p.timed // 3)
        for _ in range(repeats):
            scores = run()
        sync(self.device)
        seconds = time.perf_counter() - start
        if not all(torch.isfinite(s.float()).all() for s in scores):
            raise RuntimeError("non-finite candidate scores")
        prefix = "scoring.glm-large"
        return {f"{prefix}.examples_per_s": p.score_batch * repeats / seconds, f"{prefix}.batch_size": p.score_batch,
                f"{prefix}.context_length": p.score_context, f"{prefix}.candidates": p.candidates,
                f"{prefix}.peak_memory_gib": peak_gib(self.device)}

    def generation(self, root: Path) -> dict:
        p, shape = self.plan, self.plan.large
        model = self._eval_model(shape)
        # min_new_tokens = max_new_tokens: random weights may predict eop at any step.
        config = GenerationConfig(max_new_tokens=p.gen_tokens, min_new_tokens=p.gen_tokens)
        out = {"generation.glm-large.context_length": p.gen_context, "generation.glm-large.new_tokens": p.gen_tokens}
        for batch in p.gen_batches:
            contexts = [torch.randint(3, shape.vocab, (p.gen_context,), generator=self.generator).tolist()
                        for _ in range(batch)]

            def run():
                return generate_spans(model, contexts, [p.gen_context // 2] * batch, sop_id=1, eop_id=2, pad_id=0,
                                      config=config)

            run()
            sync(self.device)
            start = time.perf_counter()
            for _ in range(p.gen_repeats):
                spans = run()
            sync(self.device)
            seconds = time.perf_counter() - start
            tokens = sum(len(s) for s in spans)  # the last repeat's; every repeat decodes the same
            out[f"generation.glm-large.batch{batch}.tokens_per_s"] = tokens * p.gen_repeats / seconds
        return out

    # -- glm-10b -------------------------------------------------------------------------------
    def lora_10b(self, root: Path) -> dict:
        p, shape = self.plan, self.plan.big
        fresh(self.device)
        torch.manual_seed(0)
        with built_in(self.device, self.dtype):
            model = GLMModel(shape.config(checkpoint_activations=True))
        weights = sum(t.numel() * t.element_size() for t in model.parameters()) / GIB
        impl = add_lora(model, p.lora_rank)
        model.train()
        trainable = [t for t in model.parameters() if t.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=True)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)  # the weights stay allocated: they count
        batch = {k: v.to(self.device) for k, v in infilling_batch(shape, p.big_batch, self.generator).items()}
        rows, columns = (batch["labels"] != IGNORE_INDEX).nonzero(as_tuple=True)
        saved = [0]

        def pack(t):
            saved[0] += t.numel() * t.element_size()
            return t

        def step():
            hidden = model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"],
                           compute_logits=False).last_hidden_states
            loss = F.cross_entropy(model.lm_logits(hidden[rows, columns]).float(), batch["labels"][rows, columns])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = step()
        for _ in range(p.big_warmup - 1):
            step()
        sync(self.device)
        start = time.perf_counter()
        for _ in range(p.big_timed):
            loss = step()
        sync(self.device)
        step_s = (time.perf_counter() - start) / p.big_timed
        if not torch.isfinite(loss):
            raise RuntimeError(f"LoRA loss {float(loss)}")
        state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values()
                    if torch.is_tensor(t))
        accounted = weights + (sum(t.numel() * t.element_size() for t in trainable) * 2 + state + saved[0]) / GIB
        on_cuda = self.device.type == "cuda"
        return {
            "lora_10b.impl": impl, "lora_10b.rank": p.lora_rank, "lora_10b.precision": str(self.dtype),
            "lora_10b.gradient_checkpointing": True, "lora_10b.batch_size": p.big_batch,
            "lora_10b.seq_length": shape.seq, "lora_10b.parameters": sum(t.numel() for t in model.parameters()),
            "lora_10b.trainable_parameters": sum(t.numel() for t in trainable),
            "lora_10b.weights_gib": weights, "lora_10b.step_s": step_s,
            "lora_10b.tokens_per_s": p.big_batch * shape.seq / step_s,
            "lora_10b.peak_memory_gib": peak_gib(self.device) if on_cuda else accounted,
            "lora_10b.memory_source": "torch.cuda.max_memory_allocated" if on_cuda else
            "accounted: weights + trainable parameters, their gradients, optimizer state and saved activations",
        }

    def full_10b(self, root: Path) -> dict:
        """Each variant in a child process: a host out-of-memory kill is recorded, not fatal."""
        out = {}
        for variant in FULL_VARIANTS:
            if self.args.plan != "full":  # nothing to run out of on small shapes; a process start costs seconds
                out.update(self.run_full_10b_child(variant))
                continue
            root.mkdir(parents=True, exist_ok=True)
            child = root / f"{variant}.json"
            command = [sys.executable, __file__, "--child_full_10b", variant, "--output", str(child)]
            if self.args.force_offload:
                command.append("--force_offload")
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=self.plan.full_timeout_s)
            except subprocess.TimeoutExpired:
                out[f"full_10b.{variant}"] = {"error": f"timed out after {self.plan.full_timeout_s} s"}
                continue
            if child.exists():
                out.update(json.loads(child.read_text()))
            else:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                out[f"full_10b.{variant}"] = {"error": f"exit status {done.returncode}: " + " | ".join(tail)}
        return out

    def run_full_10b_child(self, variant: str) -> dict:
        p, shape = self.plan, self.plan.big
        prefix = f"full_10b.{variant}"
        out = {f"{prefix}.strategy": "lightning fsdp (FULL_SHARD, one GLMBlock per unit, activation checkpointing)"}
        try:
            from lightning.pytorch.strategies import FSDPStrategy

            precision, offload, host_bytes = FULL_VARIANTS[variant]
            out.update({f"{prefix}.precision": precision, f"{prefix}.cpu_offload": offload,
                        f"{prefix}.batch_size": p.full_batch, f"{prefix}.seq_length": shape.seq})
            parameters = shape.config().num_parameters()
            if offload and self.args.plan == "full":
                need, have = host_bytes * parameters / GIB, available_host_gib()
                out[f"{prefix}.host_memory_needed_gib"] = need
                out[f"{prefix}.host_memory_available_gib"] = have
                if need > have and not self.args.force_offload:
                    raise MemoryError(f"not run: weights, gradients and AdamW state on the CPU need {need:.0f} GiB "
                                      f"of host memory, {have:.0f} GiB available (--force_offload runs it anyway)")
            fresh(self.device)
            torch.manual_seed(0)
            # Made in the dtype the parameters are kept in (fp32 for bf16-mixed's master copy),
            # on the GPU: the CPU's random number generator would take minutes for 10B values.
            dtype = torch.float32 if precision == "bf16-mixed" else torch.bfloat16
            with built_in(self.device, dtype):
                model = GLMModel(shape.config())
            if offload:
                model = model.cpu()
                fresh(self.device)
            timed = 1 if offload else p.big_timed  # the optimizer step runs on the CPU: seconds
            steps = p.big_warmup + timed
            clock = StepClock(p.big_warmup, timed, 0)
            strategy = FSDPStrategy(auto_wrap_policy={GLMBlock}, activation_checkpointing_policy={GLMBlock},
                                    sharding_strategy="FULL_SHARD", cpu_offload=offload)
            # Lightning's FSDP precision refuses norm clipping (it needs FSDP's own clip_grad_norm_).
            options = TrainerOptions(max_steps=steps, precision=precision, accelerator=self.device.type,
                                     strategy=strategy, gradient_clip_val=None, progress_bar=False, loggers=[])
            trainer = build_trainer(options, tempfile.mkdtemp(), callbacks=[clock], enable_checkpointing=False)
            trainer.fit(BenchModule(model, infilling_batch(shape, p.full_batch, self.generator), steps))
            if clock.seconds is None:
                raise RuntimeError(f"training stopped after {trainer.global_step} of {steps} steps")
            out[f"{prefix}.parameters"] = parameters
            out[f"{prefix}.tokens_per_s"] = p.full_batch * shape.seq * timed / clock.seconds
            out[f"{prefix}.step_s"] = clock.seconds / timed
            out[f"{prefix}.peak_memory_gib"] = peak_gib(self.device)
        except Exception as error:  # noqa: BLE001 - the point is to record it
            out[prefix] = {"error": describe(error)}
        return out


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) B A x with W frozen, A ~ N(0, 1/r), B = 0; A and B kept in fp32."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.randn(rank, base.in_features, device=base.weight.device) / rank)
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + F.linear(F.linear(x, self.lora_a.to(x.dtype)), self.lora_b.to(x.dtype)) * self.scale


def add_lora(model: GLMModel, rank: int) -> str:
    """LoRA on every attention projection (query_key_value, dense); returns which implementation."""
    model.requires_grad_(False)
    try:
        import peft
    except ImportError:
        peft = None
    if peft is not None:
        config = peft.LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                 target_modules=["query_key_value", "attention.dense"])
        peft.inject_adapter_in_model(config, model)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_("lora_" in name)
        return f"peft {peft.__version__}"
    for layer in model.transformer.layers:
        attention = layer.attention
        attention.query_key_value = LoRALinear(attention.query_key_value, rank, 2 * rank)
        attention.dense = LoRALinear(attention.dense, rank, 2 * rank)
    return "minimal LoRALinear in bench/gpu.py (peft not importable)"


# ----------------------------------------------------------------------------- running
def available_host_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    return int(fields["MemAvailable"].split()[0]) * 1024 / GIB


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:500]


def versions() -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"versions.torch": torch.__version__, "versions.cuda": torch.version.cuda,
            # glm-tune may run from a checkout on PYTHONPATH, not installed (the GPU machine).
            "versions.lightning": version("lightning"), "versions.glm-tune": version("glm-tune") or glm_tune.__version__,
            "versions.deepspeed": version("deepspeed"), "versions.peft": version("peft"),
            "versions.python": platform.python_version()}


def table(results: dict) -> str:
    lines = []
    for key, value in results.items():
        if key.startswith("syncs_sites.") or key.startswith("versions."):
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict):
            value = value.get("error", value)
        lines.append(f"{key:<52} {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "gpu.json"),
                        help="where the JSON goes (default bench/results/gpu.json)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU: the code paths, in seconds")
    parser.add_argument("--plan", choices=["full", "cpu-small", "smoke"], default="full",
                        help="shapes and step counts: full (glm-large, glm-10b; a GPU), cpu-small (6 layers, "
                             "hidden 512, on the CPU), smoke (= --smoke)")
    parser.add_argument("--peak_tflops", type=float, default=None, help="the device's dense bf16 peak, if not in the table")
    parser.add_argument("--force_offload", action="store_true",
                        help="full_10b: run the CPU-offload variant even when the host memory looks too small")
    parser.add_argument("--child_full_10b", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.smoke:
        args.plan = "smoke"
        torch.set_num_threads(1)
    if args.plan == "full" and not torch.cuda.is_available():
        parser.error("no CUDA device: the full plan (glm-large, glm-10b) needs one; use --smoke or --plan cpu-small")
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    bench = Bench(args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.child_full_10b:
        output.write_text(json.dumps(bench.run_full_10b_child(args.child_full_10b), indent=1))
        return {}
    began = time.perf_counter()
    results = bench.results
    results.update({"device": torch.cuda.get_device_name() if bench.device.type == "cuda" else
                    f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
                    "smoke": args.smoke, "plan": args.plan, **versions()})
    try:
        results["peak_tflops"], results["peak_source"] = peak_tflops(bench.device, bench.dtype, args.peak_tflops)
    except RuntimeError as error:
        results["peak_tflops"], results["peak_source"] = math.nan, describe(error)
    with tempfile.TemporaryDirectory() as scratch:
        for section in sections:
            started = time.perf_counter()
            try:
                results.update(getattr(bench, section)(Path(scratch) / section))
            except Exception as error:  # noqa: BLE001 - a failed section is a result too
                results[section] = {"error": describe(error)}
                traceback.print_exc()
            fresh(bench.device)
            results[f"{section}.wall_s"] = time.perf_counter() - started
            results["wall_s"] = time.perf_counter() - began
            output.write_text(json.dumps(results, indent=1, default=str))
    print(table(results))
    print(f"wrote {output}")
    return results


if __name__ == "__main__":
    main()
