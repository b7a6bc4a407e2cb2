"""glm-tiny finetuned on LCSTS (summarization) and CMRC 2018 (reading comprehension), on CPU.

    OMP_NUM_THREADS=1 nice -n 10 python experiments/glm-tiny/seq2seq.py ../shared/data \\
        experiments/glm-tiny/seq2seq.md --work /tmp/glm-tiny-seq2seq

Everything goes through glm-tune's API (``fit``, ``evaluate``) and the tasks' own metrics:

* LCSTS: train on ``train.tsv``, score character ROUGE-1/2/L on the first ``--lcsts_rows`` rows
  of the held-out ``val.tsv``, against lead-20 (the text's first 20 characters) and zero-shot
  glm-tiny on the same rows; lead-20 is also given on all 1,000 rows.
* CMRC 2018: train on ``cmrc2018_trial.json``, score EM/F1 on the first ``--cmrc_rows``
  questions of ``cmrc2018_dev.json``, against zero-shot glm-tiny and two extractive baselines:
  the context's first sentence and the sentence sharing most characters with the question.

Targets are encoded without a bare leading ``▁`` piece, and CMRC training rows whose context
cut would lose the answer get a window around it (``glm_tune.training.targets``); the evaluation rows are
cut from the end as a user's input is, and the table says on how many of them the answer survives.

Validation during training decodes greedily (fast) and gives the learning curves (step 0 is
the zero-shot model). The best checkpoint by the task's first metric (a tie keeps the earliest)
and the last checkpoint are then decoded greedily and with the task's beam search. The table
(with the targets checked), a JSON copy and a PNG of the curves (with matplotlib installed) are
written beside ``RESULTS``. The defaults fit a shared 2-core machine: 10 to 30 wall minutes per
task (the seconds are in the table); ``--only TASK`` runs one and merges it into the JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
from datetime import date
from pathlib import Path

import torch

from glm_tune.checkpoint import resolve
from glm_tune.cloze.decoding import DecodingOptions
from glm_tune.task.registry import get_task
from glm_tune.tokenizer import load_tokenizer
from glm_tune.training.data import DataOptions
from glm_tune.training.module import TrainingOptions
from glm_tune.training.run import FitConfig, evaluate, fit
from glm_tune.training.trainer import TrainerOptions

GREEDY = {"lcsts": DecodingOptions(decoding_strategy="greedy", no_repeat_ngram_size=3),
          "cmrc2018": DecodingOptions(decoding_strategy="greedy")}
"""Decoding of validation during training (fast); the final models are also decoded with the
task's default beam search."""

README_BEGIN = "<!-- seq2seq tables: written by experiments/glm-tiny/seq2seq.py --readme -->"
README_END = "<!-- end of seq2seq tables -->"

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")


def lead(text: str, chars: int = 20) -> str:
    return text[:chars]


def context_sentences(context: str) -> list[str]:
    return [s for s in _SENTENCE.findall(context) if s.strip()] or [context]


def best_overlap_sentence(context: str, question: str) -> str:
    """The sentence of the context with the most distinct characters in common with the question."""
    asked = set(question) - set("？?，,。的是了吗呢什么哪")
    return max(context_sentences(context), key=lambda s: len(asked & set(s)))


def score(task_name: str, predictions: list[str], golds: list[list[str]]) -> dict[str, float]:
    metrics = get_task(task_name).build_metrics()
    metrics.update(predictions, golds)
    return {name: float(value) for name, value in metrics.compute().items()}


def rows(task_name: str, split: str, data_dir: Path, limit: int | None) -> list[dict]:
    data, _ = get_task(task_name).load_split(split, data_dir, skip_bad_rows=True)
    data = data.to_list()
    return data[:limit] if limit else data


def answers_kept(dev: list[dict], max_length: int) -> int:
    """How many questions keep their answer in the context as evaluation cuts it (glm-tiny's
    tokens, the task's template): a ceiling on what a generating model can copy."""
    task, tokenizer = get_task("cmrc2018"), load_tokenizer(resolve("glm-tiny"))
    template = task.patterns[task.default_pattern_id]

    def spelled(text: str) -> str:  # as the tokenizer spells text back (full-width punctuation normalised)
        return tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)).replace(" ", "")

    kept = 0
    for row in dev:
        context = tokenizer.decode(template.encode(row, tokenizer, max_length, row_id="dev", reserve=1).input_ids)
        kept += any(spelled(answer) in context.replace(" ", "") for answer in row["answers"])
    return kept


def curve(out: Path, metric: str) -> list[tuple[int, float]]:
    """(step, val metric) pairs of a fit run's CSV log."""
    points = []
    for path in sorted((out / "logs").rglob("metrics.csv")):
        with path.open() as handle:
            for record in csv.DictReader(handle):
                if record.get(f"val/{metric}"):
                    points.append((int(record["step"]), float(record[f"val/{metric}"])))
    return sorted(set(points))


def experiment(name: str, *, data_dir: Path, work: Path, train_split: str, eval_rows: int, steps: int,
               every: int, batch: int, lr: float, max_length: int, max_target: int, greedy: DecodingOptions,
               seed: int) -> dict:
    task = get_task(name)
    data = DataOptions(data_dir=str(data_dir), train_split=train_split, eval_limit=eval_rows, batch_size=batch,
                       eval_batch_size=32, max_length=max_length, max_target_length=max_target, skip_bad_rows=True)
    trainer = TrainerOptions(max_epochs=None, max_steps=steps, val_check_interval=every, progress_bar=False,
                             log_every_n_steps=min(every, 50))  # train loss, and a CSV flushed every 100 steps
    base = FitConfig(task=name, model="glm-tiny", seed=seed, data=data, trainer=trainer, decoding=greedy,
                     output_dir=str(work / f"{name}-zero-shot"))
    timings = {}
    start = time.time()
    zero = {"greedy": evaluate(base).metrics,
            "beam": evaluate(FitConfig(**{**base.__dict__, "decoding": DecodingOptions()})).metrics}
    timings["zero-shot eval s"] = time.time() - start
    start = time.time()
    run = FitConfig(**{**base.__dict__, "output_dir": str(work / name), "overwrite": True,
                       "training": TrainingOptions(learning_rate=lr, weight_decay=0.01, warmup_ratio=0.05)})
    tuned = fit(run)
    timings["fit s"] = time.time() - start
    start = time.time()
    tuned_model = str(tuned.model_dir)
    beam = evaluate(FitConfig(**{**base.__dict__, "model": tuned_model, "decoding": DecodingOptions()})).metrics
    timings["beam eval s"] = time.time() - start
    start = time.time()
    last = last_step(base, Path(run.output_dir))
    timings["last-step eval s"] = time.time() - start
    # Step 0 of the curve is the zero-shot model, decoded as validation decodes.
    curves = {m: [(0, zero["greedy"][f"val/{m}"]), *curve(Path(run.output_dir), m)] for m in task.metrics}
    return {"task": name, "zero_shot": zero, "finetuned": {"greedy": tuned.metrics, "beam": beam}, "last_step": last,
            "curve": curves, "seconds": timings,
            "settings": {"train_split": train_split, "eval_rows": eval_rows, "steps": steps, "batch": batch,
                         "lr": lr, "max_length": max_length, "max_target_length": max_target,
                         "in_loop_decoding": greedy.generation_overrides(), "beam": task.generation.__dict__}}


def last_step(base: FitConfig, out: Path) -> dict:
    """The last checkpoint decoded greedily and with beams: "finetuned" is the best checkpoint by
    the task's first metric, and a tie keeps the earliest (with F1 stuck at 0, the first)."""
    model, checkpoint = str(out / "model"), str(out / "checkpoints" / "last.ckpt")
    return {"greedy": evaluate(FitConfig(**{**base.__dict__, "model": model}), checkpoint=checkpoint).metrics,
            "beam": evaluate(FitConfig(**{**base.__dict__, "model": model, "decoding": DecodingOptions()}),
                             checkpoint=checkpoint).metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_root", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/glm-tiny-seq2seq"))
    parser.add_argument("--lcsts_rows", type=int, default=100)
    parser.add_argument("--cmrc_rows", type=int, default=60)
    parser.add_argument("--lcsts_steps", type=int, default=1000)
    parser.add_argument("--cmrc_steps", type=int, default=500)
    parser.add_argument("--lcsts_every", type=int, default=None,
                        help="validate LCSTS every this many steps (default: half of --lcsts_steps); more "
                             "points draw the learning curve and let the best checkpoint come from more steps")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of both runs")
    parser.add_argument("--only", choices=("lcsts", "cmrc2018"), default=None,
                        help="run one task and merge its results into the JSON beside RESULTS")
    parser.add_argument("--report_only", action="store_true", help="rewrite the table and PNG from the JSON")
    parser.add_argument("--readme", type=Path, default=None,
                        help=f"also rewrite the tables between {README_BEGIN} and {README_END} in this file")
    parser.add_argument("--rescore_last", action="store_true",
                        help="decode the last checkpoint of the runs in --work that the JSON lacks, then report")
    args = parser.parse_args()
    json_path = args.results.with_suffix(".json")
    if args.report_only:
        results = json.loads(json_path.read_text())
        args.results.write_text(report(results))
        plot(results, args.results.with_suffix(".png"))
        if args.readme:
            write_readme(args.readme, results)
        return
    torch.set_num_threads(1)
    lcsts_dir, cmrc_dir = args.data_root / "lcsts", args.data_root / "cmrc2018"
    if args.rescore_last:
        results = json.loads(json_path.read_text())
        for name, data_dir in (("lcsts", lcsts_dir), ("cmrc2018", cmrc_dir)):
            if name in results and "last_step" not in results[name]:
                s = results[name]["settings"]
                base = FitConfig(task=name, model="glm-tiny", seed=1234, decoding=GREEDY[name], data=DataOptions(
                    data_dir=str(data_dir), train_split=s["train_split"], eval_limit=s["eval_rows"], eval_batch_size=32,
                    max_length=s["max_length"], max_target_length=s["max_target_length"], skip_bad_rows=True))
                results[name]["last_step"] = last_step(base, args.work / name)
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        args.results.write_text(report(results))
        plot(results, args.results.with_suffix(".png"))
        return
    results: dict = {"date": str(date.today())}
    if args.only in (None, "lcsts"):
        val = rows("lcsts", "validation", lcsts_dir, None)
        results["lcsts_baselines"] = {
            "lead-20, all 1,000 rows": score("lcsts", [lead(r["source"]) for r in val], [[r["target"]] for r in val]),
            f"lead-20, first {args.lcsts_rows} rows": score(
                "lcsts", [lead(r["source"]) for r in val[: args.lcsts_rows]],
                [[r["target"]] for r in val[: args.lcsts_rows]]),
        }
        results["lcsts"] = experiment(
            "lcsts", data_dir=lcsts_dir, work=args.work, train_split="train", eval_rows=args.lcsts_rows,
            steps=args.lcsts_steps, every=args.lcsts_every or max(args.lcsts_steps // 2, 1), batch=16, lr=args.lr,
            max_length=160, max_target=32, greedy=GREEDY["lcsts"], seed=1234)
    if args.only in (None, "cmrc2018"):
        dev = rows("cmrc2018", "validation", cmrc_dir, args.cmrc_rows)
        golds = [list(r["answers"]) for r in dev]
        results["cmrc2018_baselines"] = {
            "first sentence": score("cmrc2018", [context_sentences(r["context"])[0] for r in dev], golds),
            "best-overlap sentence": score(
                "cmrc2018", [best_overlap_sentence(r["context"], r["question"]) for r in dev], golds),
        }
        results["cmrc2018_answers_kept"] = answers_kept(dev, 256)
        # Lightning validates every N batches only within an epoch: at most once per epoch of the trial file.
        epoch = len(rows("cmrc2018", "trial", cmrc_dir, None)) // 8
        results["cmrc2018"] = experiment(
            "cmrc2018", data_dir=cmrc_dir, work=args.work, train_split="trial", eval_rows=args.cmrc_rows,
            steps=args.cmrc_steps, every=min(max(args.cmrc_steps // 2, 1), epoch), batch=8, lr=args.lr, max_length=256,
            max_target=32, greedy=GREEDY["cmrc2018"], seed=1234)
    if json_path.is_file() and args.only:
        results = {**json.loads(json_path.read_text()), **results}
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    args.results.write_text(report(results))
    plot(results, args.results.with_suffix(".png"))
    if args.readme:
        write_readme(args.readme, results)
    print(args.results.read_text())


def _row(name: str, metrics: dict[str, float], keys: tuple[str, ...]) -> str:
    return f"| {name} | " + " | ".join(f"{metrics.get(k, metrics.get(f'val/{k}', float('nan'))):.3f}"
                                       for k in keys) + " |"


def report(results: dict) -> str:
    lines = [f"# glm-tiny on LCSTS and CMRC 2018 ({results['date']})", "",
             "Written by `experiments/glm-tiny/seq2seq.py` (see its docstring for the protocol); CPU, one thread.", ""]
    if "lcsts" in results:
        r, s = results["lcsts"], results["lcsts"]["settings"]
        keys = ("rouge1", "rouge2", "rougeL")
        lines += [f"## LCSTS: character ROUGE F on the first {s['eval_rows']} rows of val.tsv", "",
                  f"Trained on train.tsv: {s['steps']} steps of {s['batch']} rows, lr {s['lr']}, contexts cut to "
                  f"{s['max_length']} tokens. Greedy = greedy with no repeated trigram (the in-loop decoding); "
                  f"beam = the task's default (beam {s['beam']['num_beams']}, no repeated trigram).", "",
                  "| system | ROUGE-1 | ROUGE-2 | ROUGE-L |", "|---|---|---|---|"]
        lines += [_row(name, m, keys) for name, m in results["lcsts_baselines"].items()]
        lines += [_row("glm-tiny zero-shot, greedy", r["zero_shot"]["greedy"], keys),
                  _row("glm-tiny zero-shot, beam", r["zero_shot"]["beam"], keys),
                  _row("glm-tiny finetuned, greedy", r["finetuned"]["greedy"], keys),
                  _row("glm-tiny finetuned, beam", r["finetuned"]["beam"], keys), *_last_rows(r, keys), ""]
    if "cmrc2018" in results:
        r, s = results["cmrc2018"], results["cmrc2018"]["settings"]
        keys = ("em", "f1")
        lines += [f"## CMRC 2018: EM / F1 on the first {s['eval_rows']} questions of cmrc2018_dev.json", "",
                  f"Trained on cmrc2018_trial.json (1,000 usable questions): {s['steps']} steps of {s['batch']} rows, "
                  f"lr {s['lr']}, contexts cut to {s['max_length']} tokens; a training row whose cut would lose its "
                  "answer gets a window around the answer instead. Evaluation contexts are cut from the end: "
                  + (f"{results['cmrc2018_answers_kept']} of the {s['eval_rows']} questions keep a gold answer."
                     if "cmrc2018_answers_kept" in results else "the answer can be cut away."), "",
                  "| system | EM | F1 |", "|---|---|---|"]
        lines += [_row(name, m, keys) for name, m in results["cmrc2018_baselines"].items()]
        lines += [_row("glm-tiny zero-shot, greedy", r["zero_shot"]["greedy"], keys),
                  _row("glm-tiny zero-shot, beam", r["zero_shot"]["beam"], keys),
                  _row("glm-tiny finetuned, greedy", r["finetuned"]["greedy"], keys),
                  _row("glm-tiny finetuned, beam", r["finetuned"]["beam"], keys), *_last_rows(r, keys), ""]
    lines += _verdicts(results)
    lines += ["## Learning curves (validation, greedy, same rows)", "", "| task | metric | step: value |", "|---|---|---|"]
    for name in ("lcsts", "cmrc2018"):
        if name in results:
            for metric, points in _curves(results[name]).items():
                lines.append(f"| {name} | {metric} | " + ", ".join(f"{s}: {v:.3f}" for s, v in points) + " |")
    lines += ["", "## Time (wall seconds on a shared 2-core machine)", ""]
    for name in ("lcsts", "cmrc2018"):
        if name in results:
            lines.append(f"- {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in results[name]["seconds"].items()))
    return "\n".join(lines) + "\n"


def readme_tables(results: dict) -> str:
    """The README's summary: the baselines, zero-shot and finetuned glm-tiny, and the targets."""
    lines = []
    for name, keys, header in (("lcsts", ("rouge1", "rouge2", "rougeL"), "ROUGE-1 | ROUGE-2 | ROUGE-L"),
                               ("cmrc2018", ("em", "f1"), "EM | F1")):
        if name not in results:
            continue
        r, s = results[name], results[name]["settings"]
        title = f"LCSTS ({s['eval_rows']} val rows)" if name == "lcsts" else f"CMRC 2018 ({s['eval_rows']} dev questions)"
        lines += [f"| {title} | {header} |", "|" + "---|" * (len(keys) + 1)]
        lines += [_row(system, m, keys) for system, m in results[f"{name}_baselines"].items()]
        lines += [_row(f"glm-tiny zero-shot, {d}", r["zero_shot"][d], keys) for d in ("greedy", "beam")]
        lines += [_row(f"glm-tiny finetuned ({s['steps']} steps x {s['batch']} rows, lr {s['lr']}), best, {d}",
                       r["finetuned"][d], keys) for d in ("greedy", "beam")]
        lines += [*_last_rows(r, keys), ""]
    return "\n".join(lines + [line for line in _verdicts(results)[2:] if line.startswith("- ")]) + "\n"


def write_readme(path: Path, results: dict) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    path.write_text(text[:start] + "\n" + readme_tables(results) + text[end:], encoding="utf-8")


def _last_rows(result: dict, keys: tuple[str, ...]) -> list[str]:
    if "last_step" not in result:
        return []
    steps = result["settings"]["steps"]
    return [_row(f"glm-tiny finetuned, last step ({steps}), {d}", result["last_step"][d], keys) for d in ("greedy", "beam")]


def _verdicts(results: dict) -> list[str]:
    """The targets of the experiment, checked against the numbers above."""
    lines = ["## Targets", ""]
    if "lcsts" in results:
        lead20 = next(m for name, m in results["lcsts_baselines"].items() if "first" in name)["rougeL"]
        best = max(run[d]["val/rougeL"] for run in _finetuned(results["lcsts"]) for d in ("greedy", "beam"))
        zero = max(results["lcsts"]["zero_shot"][d]["val/rougeL"] for d in ("greedy", "beam"))
        # The best checkpoint is picked on the rows it is scored on; the last step is not picked at all.
        last = max((results["lcsts"]["last_step"][d]["val/rougeL"] for d in ("greedy", "beam")
                    if "last_step" in results["lcsts"]), default=float("nan"))
        lines.append(f"- LCSTS ROUGE-L above lead-20: {'met' if best > lead20 else 'not met'} (finetuned {best:.3f}, "
                     f"lead-20 {lead20:.3f}, zero-shot {zero:.3f}; the best checkpoint is picked on these same rows, "
                     f"the unpicked last step scores {last:.3f}).")
    if "cmrc2018" in results:
        best = max(run[d]["val/f1"] for run in _finetuned(results["cmrc2018"]) for d in ("greedy", "beam"))
        zero = max(results["cmrc2018"]["zero_shot"][d]["val/f1"] for d in ("greedy", "beam"))
        overlap = results["cmrc2018_baselines"]["best-overlap sentence"]["f1"]
        lines.append(f"- CMRC 2018 F1 clearly (over 0.05) above zero-shot: {'met' if best > zero + 0.05 else 'not met'} (finetuned "
                     f"{best:.3f}, zero-shot {zero:.3f}; best-overlap sentence {overlap:.3f}).")
    missed = [line for line in lines if "not met" in line]
    if missed:
        rising = [name for name in ("lcsts", "cmrc2018") if name in results and _still_rising(results[name])]
        lines += ["", "What would help: glm-tiny has 4 layers of 256 units and was pretrained on 3M tokens whose "
                  "Chinese part is the unlabeled text of four FewCLUE tasks (bustm, chid, eprstmt, tnews); more Chinese "
                  "pretraining text and a larger tiny model are what would lift it"
                  + (f"; the validation curve of {', '.join(rising)} still rose at its last point, so longer "
                     "finetuning would add some." if rising else ".")]
    return lines + [""]


def _still_rising(result: dict) -> bool:
    """Whether the task's first metric is at its highest at the last point of its curve: on 100
    rows the curve rises and falls between single points, so one rise says little."""
    points = next(iter(_curves(result).values()))
    return len(points) > 1 and points[-1][1] > max(value for _, value in points[:-1])


def _curves(result: dict) -> dict[str, list]:
    """The logged validation points, plus the last checkpoint's greedy score when training went
    on past the last validation."""
    curves = {metric: [tuple(point) for point in points] for metric, points in result["curve"].items()}
    steps = result["settings"]["steps"]
    if "last_step" in result:
        for metric, points in curves.items():
            if points[-1][0] < steps - 1:
                points.append((steps, result["last_step"]["greedy"][f"val/{metric}"]))
    return curves


def _finetuned(result: dict) -> list[dict]:
    return [result["finetuned"], *([result["last_step"]] if "last_step" in result else [])]


def plot(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    names = [n for n in ("lcsts", "cmrc2018") if n in results]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        for metric, points in _curves(results[name]).items():
            if points:
                axis.plot(*zip(*points), marker="o", label=metric)
        axis.set_title(f"glm-tiny {name} (validation, greedy)")
        axis.set_xlabel("optimizer steps")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
