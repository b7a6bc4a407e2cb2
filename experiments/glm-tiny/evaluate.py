"""The few-shot evaluations of glm-tiny's model card, computed end to end with glm-tune's API.

    python experiments/glm-tiny/evaluate.py ../shared/data experiments/glm-tiny/RESULTS.md

* SST-2, 32 training rows (FewGLUE-style): pretrained glm-tiny against a randomly initialised
  GLM of the same shape and tokenizer, same template, label words, steps and seeds.
* FewCLUE eprstmt (2 classes) and tnews (15 classes) with the same two models, against the
  majority class.

Protocol, the same for every run (LM-BFF's, on a smaller grid): for each seed and each learning
rate of the grid, train on the few-shot split and keep the checkpoint that scores best on a
32-row dev split (SST-2: the first 32 dev rows; FewCLUE: dev_0); the learning rate whose best
dev-split score is highest is chosen, and its model is scored once on the full dev set (SST-2
dev, 872 rows; FewCLUE dev_few_all, 160 / 1,098 rows), which contains those 32 rows. Seeds 13,
21, 42 (LM-BFF's first three); mean and standard deviation over them.
"""

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import torch

from glm_tune.checkpoint import resolve
from glm_tune.model import GLMModel, load_model, save_model
from glm_tune.task.readers import read_rows
from glm_tune.task.registry import get_task
from glm_tune.tokenizer import load_tokenizer
from glm_tune.training.data import DataOptions
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig, evaluate, fit
from glm_tune.training.trainer import TrainerOptions

SEEDS = (13, 21, 42)
LEARNING_RATES = (1e-4, 5e-4)
SETTINGS = {
    # task: (data folder, train split, selection split, report split, selection rows, epochs)
    "sst2": ("sst2", "train", "validation", "validation", 32, 30),
    "eprstmt": ("fewclue/eprstmt", "train_0", "dev_0", "dev_few_all", None, 30),
    "tnews": ("fewclue/tnews", "train_0", "dev_0", "dev_few_all", None, 10),
}


def random_twin(out: Path) -> Path:
    """glm-tiny's shape and tokenizer with freshly initialised weights."""
    pretrained = load_model("glm-tiny")
    torch.manual_seed(0)
    save_model(GLMModel(pretrained.config), out)
    load_tokenizer(resolve("glm-tiny")).save_pretrained(out)
    return out


def run(task: str, model: str, seed: int, data_root: Path, work: Path) -> float:
    """Full-dev accuracy of the learning rate that does best on the 32-row dev split."""
    trials = [train(task, model, seed, lr, data_root, work) for lr in LEARNING_RATES]
    best = max(trials, key=lambda trial: trial[0])[1]
    folder, _, _, report, _, _ = SETTINGS[task]
    check = FitConfig(task="", model=str(best / "model"), seed=seed,
                      data=DataOptions(data_dir=str(data_root / folder), test_split=report, eval_batch_size=64),
                      trainer=TrainerOptions(progress_bar=False))
    return evaluate(check, "test").metrics["test/accuracy"]


def train(task: str, model: str, seed: int, lr: float, data_root: Path, work: Path) -> tuple[float, Path]:
    folder, train_split, select, _, select_rows, epochs = SETTINGS[task]
    data = DataOptions(data_dir=str(data_root / folder), train_split=train_split, validation_split=select,
                       batch_size=8, eval_batch_size=64, eval_limit=select_rows,
                       train_limit=32 if task == "sst2" else None)
    out = work / f"{task}-{Path(model).name}-{seed}-{lr}"
    config = FitConfig(task=task, model=model, output_dir=str(out), seed=seed, overwrite=True, data=data,
                       training=TrainingOptions(learning_rate=lr, weight_decay=0.01),
                       trainer=TrainerOptions(max_epochs=epochs, progress_bar=False, loggers=[]))
    return fit(config).metrics["val/accuracy"], out


def heldout_loss(model_dir: str, data_root: Path) -> dict[str, float]:
    """Mean Part B token cross-entropy on the chunks pretraining held out, per objective.

    The same tokenization, packing, split (seed 1234, 1%) and sample seeds as
    experiments/glm-tiny/pretrain.py, with one objective at a time.
    """
    from glm_tune.constants import IGNORE_INDEX
    from glm_tune.pretraining.corpus import default_corpus_files
    from glm_tune.pretraining.infilling import InfillingConfig, InfillingDataset, InfillingIds, collate, pack_documents
    from glm_tune.pretraining.pretrain import split_chunks, tokenize_corpus

    tokenizer = load_tokenizer(resolve("glm-tiny"))
    model = load_model(model_dir).eval()
    documents = tokenize_corpus(tokenizer, [str(p) for p in default_corpus_files(data_root)], 10)
    base = InfillingConfig(seq_length=256, mixture=(0.6, 0.2, 0.2))
    _, held_out = split_chunks(pack_documents(documents, base.chunk_length, tokenizer.eos_token_id), 0.01, 1234)
    out = {}
    for name, mixture in (("[MASK]", (1, 0, 0)), ("[sMASK]", (0, 1, 0)), ("[gMASK]", (0, 0, 1))):
        data = InfillingDataset(held_out, InfillingConfig(seq_length=256, mixture=mixture),
                                InfillingIds.from_tokenizer(tokenizer), seed=1234)
        total, count = 0.0, 0
        for start in range(0, len(data), 32):
            batch = collate([data[i] for i in range(start, min(start + 32, len(data)))])
            with torch.no_grad():
                logits = model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"]).logits
            keep = batch["labels"] != IGNORE_INDEX
            total += float(torch.nn.functional.cross_entropy(logits[keep].float(), batch["labels"][keep],
                                                             reduction="sum"))
            count += int(keep.sum())
        out[name] = total / count
    return out


def majority(task: str, data_root: Path) -> float:
    folder, report = SETTINGS[task][0], SETTINGS[task][3]
    t = get_task(task)
    rows, _ = read_rows(data_root / folder / t.files[report], t.file_format, (t.label_field,))
    counts = Counter(str(r[t.label_field]) for r in rows)
    return counts.most_common(1)[0][1] / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_root", type=Path, help="the shared data folder (sst2/, fewclue/)")
    parser.add_argument("results", type=Path, help="markdown file to write")
    parser.add_argument("--tasks", nargs="+", default=list(SETTINGS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = {"glm-tiny (pretrained)": "glm-tiny", "same shape, random init": str(random_twin(work / "random"))}
        losses = {label: heldout_loss(model, args.data_root) for label, model in models.items()}
        results = {}
        for task in args.tasks:
            for label, model in models.items():
                scores = [run(task, model, seed, args.data_root, work) for seed in SEEDS]
                results[(task, label)] = scores
                print(task, label, scores, file=sys.stderr, flush=True)
    lines = [
        "# glm-tiny few-shot results", "",
        f"Written by `python experiments/glm-tiny/evaluate.py` on {date.today()} (CPU). "
        "Accuracy on the full dev set, mean ± standard deviation over seeds "
        f"{', '.join(map(str, SEEDS))}, learning rate chosen per seed from {LEARNING_RATES} on a 32-row "
        "dev split; protocol in the script's docstring.", "",
        "| task | train rows | model | accuracy | per seed | majority class |",
        "|---|---|---|---|---|---|",
    ]
    for (task, label), scores in results.items():
        rows = 32 if task == "sst2" else len(read_rows(
            args.data_root / SETTINGS[task][0] / get_task(task).files[SETTINGS[task][1]], "jsonl", ())[0])
        lines.append(
            f"| {task} | {rows} | {label} | {statistics.mean(scores):.3f} ± {statistics.stdev(scores):.3f} | "
            f"{', '.join(f'{s:.3f}' for s in scores)} | {majority(task, args.data_root):.3f} |"
        )
    lines += ["", "Held-out blank-infilling loss (nats per Part B token; the 1% of packed chunks pretraining "
              "held out; uniform guessing over the vocabulary would be ln 16128 = 9.69):", "",
              "| model | [MASK] | [sMASK] | [gMASK] |", "|---|---|---|---|"]
    for label, loss in losses.items():
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in loss.values()) + " |")
    args.results.write_text("\n".join(lines) + "\n")
    (args.results.with_suffix(".json")).write_text(json.dumps(
        {f"{task}/{label}": scores for (task, label), scores in results.items()}, indent=2) + "\n")
    print(args.results.read_text())


if __name__ == "__main__":
    main()
