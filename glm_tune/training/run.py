"""The Python API behind ``glm-tune fit | validate | test | predict``.

    from glm_tune.training.run import FitConfig, fit
    result = fit(FitConfig(task="sst2", model="glm-tiny", data_dir="data/sst2", output_dir="runs/sst2"))
    result.metrics          # {"val/accuracy": 0.87, ...}
    result.model_dir        # runs/sst2/model: hub layout + tokenizer + glm_tune.json

An output directory holds ``fit_config.json`` (the run's settings), ``checkpoints/`` (``last.ckpt``
for --resume, ``best.ckpt`` by the task's first metric), ``logs/metrics.csv``, ``metrics.json``
and ``model/``, the finetuned model that ``predict --model runs/sst2/model`` uses on its own. After
a LoRA run ``model/`` holds the adapter over the base model (peft's ``adapter_model.safetensors``
+ ``adapter_config.json``), or with ``--merge_lora`` the merged weights, the adapter then in
``adapter/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl

from glm_tune.atomic import write_text_atomic
from glm_tune.checkpoint import CheckpointError, load_tensors, resolve
from glm_tune.cloze.decoding import DecodingOptions
from glm_tune.cloze.verbalizer import Verbalizer
from glm_tune.errors import OptionError
from glm_tune.loading import load_model_and_tokenizer
from glm_tune.model import save_model
from glm_tune.task.file import TaskOptions, task_from_record, task_record
from glm_tune.task.registry import Task, resolve_task
from glm_tune.training.data import ClozeDataModule, DataOptions, write_predictions
from glm_tune.training.finetune_defaults import apply_finetune_defaults
from glm_tune.training.lora import is_adapter_dir, load_adapter, merged_model, read_adapter_config, save_adapter
from glm_tune.training.module import ClozeModule, TrainingOptions
from glm_tune.training.options import FIT_ONLY, check_options, fit_only_fields, from_flat_options
from glm_tune.training.prompt import free_embedding_row
from glm_tune.training.trainer import (
    BEST,
    StopOnInterrupt,
    TrainerOptions,
    build_trainer,
    checkpoint_dir,
    last_checkpoint,
)
from glm_tune.training.val_predictions import VAL_PREDICTIONS, ValidationPredictions

RUN_RECORD = "glm_tune.json"
"""File in a saved model directory that says which task, pattern and label words it was tuned for."""
PROMPT_FILE = "prompt_encoder.safetensors"
ADAPTER_DIR = "adapter"
"""Beside OUTPUT_DIR/model when --merge_lora merged the LoRA updates into it: the adapter itself."""
FIT_CONFIG = "fit_config.json"
METRICS_FILE = "metrics.json"


@dataclass
class FitConfig:
    """A finetuning run: task, model, data, training and trainer settings, output directory."""

    task: str = ""
    """Task name (see `glm-tune tasks`), path/to/task.yaml (your own data, no code), or
    path/to/file.py:NAME for your own Task; a task defined by --template etc. takes it as its name."""
    model: str = "glm-tiny"
    """Model name (see `glm-tune models`), hub id owner/name, or directory in the hub layout."""
    output_dir: str | None = field(default=None, metadata=FIT_ONLY)
    """Where checkpoints, logs, metrics and the finetuned model go (default: runs/<task>)."""
    tokenizer: str | None = None
    """Tokenizer directory when the model directory has no tokenizer files."""
    model_config: str | None = None
    """Config of a checkpoint that carries none (THUDM's): a config.json or a known model name
    (default: the released model whose shapes the weights have)."""
    activation: Literal["gelu", "gelu_tanh"] | None = None
    """GELU of the model (default: what its config records, else by origin: exact erf for the hub
    layout, tanh for THUDM, FlagAI and PaddleNLP checkpoints)."""
    pattern_id: int | None = None
    """Which of the task's cloze patterns to use (default: the task's, see `glm-tune tasks`)."""
    seed: int = 1234
    """Seed of everything random: sampling of rows, batch order, dropout, initialisation."""
    resume: bool = field(default=False, metadata=FIT_ONLY)
    """Continue the interrupted run in --output_dir from its last checkpoint."""
    overwrite: bool = field(default=False, metadata=FIT_ONLY)
    """Start afresh in an --output_dir that already holds a run (its checkpoints are deleted)."""
    data: DataOptions = field(default_factory=DataOptions)
    training: TrainingOptions = field(default_factory=TrainingOptions)
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    task_options: TaskOptions = field(default_factory=TaskOptions)
    decoding: DecodingOptions = field(default_factory=DecodingOptions)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FitConfig:
        """The config :meth:`to_dict` wrote (sections nested, as in fit_config.json)."""
        values = dict(values)
        for key, kind in OPTION_SECTIONS.items():
            values[key] = kind(**values.get(key, {}))
        return cls(**values)

    @classmethod
    def from_options(cls, values: dict[str, Any]) -> FitConfig:
        """The config of flat option values (see :func:`~glm_tune.training.options.from_flat_options`)."""
        return from_flat_options(cls, values, OPTION_SECTIONS)


OPTION_SECTIONS: dict[str, type] = {"data": DataOptions, "training": TrainingOptions, "trainer": TrainerOptions,
                                    "task_options": TaskOptions, "decoding": DecodingOptions}
"""FitConfig's option sections: field name -> option dataclass; options are spelled flat."""


def add_fit_options(parser: Any, command: str = "fit", sections: tuple[str, ...] = tuple(OPTION_SECTIONS),
                    skip: set[str] = frozenset()) -> None:
    """Add the options of ``command`` (fit, validate, test or predict) to a jsonargparse parser,
    flat: FitConfig's own fields and those of ``sections``; fields marked FIT_ONLY only for fit."""
    fit = command == "fit"
    top_skip = set(OPTION_SECTIONS) | set(skip) | (set() if fit else fit_only_fields(FitConfig))
    parser.add_class_arguments(FitConfig, nested_key=None, skip=top_skip)
    for section in sections:
        kind = OPTION_SECTIONS[section]
        parser.add_class_arguments(kind, nested_key=None, skip=set() if fit else fit_only_fields(kind))


def load_fit_config(path: str | Path, overrides: dict[str, Any] | None = None) -> FitConfig:
    """The FitConfig of a YAML of fit options (``glm-tune fit --config PATH``), with ``overrides``
    (``{"max_steps": 2}``) on top. Keys may be spelled with dashes or underscores; unknown keys and
    values of the wrong type are errors naming the file, as on the command line."""
    import yaml
    from jsonargparse import ArgumentError, ArgumentParser

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise OptionError(f"{path}: cannot read it as YAML: {error}") from None
    if not isinstance(values, dict):
        raise OptionError(f"{path}: expected a mapping of fit options (task: sst2, max_epochs: 3, ...)")
    parser = ArgumentParser(exit_on_error=False)
    add_fit_options(parser)
    merged = {str(k).replace("-", "_"): v for k, v in {**values, **(overrides or {})}.items()}
    try:
        namespace = parser.parse_object(merged)
    except ArgumentError as error:
        raise OptionError(f"{path}: {error}") from None
    return FitConfig.from_options(vars(namespace))


@dataclass
class RunResult:
    """What a command produced."""

    metrics: dict[str, float]
    output_dir: Path | None = None
    model_dir: Path | None = None
    predictions: Path | None = None


def _output_dir(config: FitConfig) -> Path:
    if config.output_dir:
        return Path(config.output_dir)
    return Path("runs") / Path((config.task or "custom").split(":")[-1]).stem


def _prepare_output_dir(config: FitConfig, out: Path) -> None:
    """Refuse to mix two runs in one directory; never delete anything unless --overwrite says so."""
    if _launched_process():
        # The launching process has already checked (and written fit_config.json, which must
        # not count as another run here).
        return
    # A run that stopped before its first checkpoint (killed, or failed in setup) left nothing
    # worth keeping: it must not block the corrected rerun.
    has_run = any(p.exists() for p in (last_checkpoint(out), out / "model", out / METRICS_FILE))
    if config.resume and config.overwrite:
        raise OptionError("--resume and --overwrite contradict each other: choose one")
    if config.resume:
        if not last_checkpoint(out).is_file():
            raise OptionError(f"--resume: {last_checkpoint(out)} not found; nothing to resume in {out} "
                              "(start the run again without --resume)")
        saved = FitConfig.from_dict(json.loads((out / FIT_CONFIG).read_text()))
        if (saved.task, saved.model, saved.seed) != (config.task, config.model, config.seed):
            raise OptionError(
                f"--resume: {out} holds a run of task {saved.task} with model {saved.model} and seed {saved.seed}; "
                "resume it with the same --task, --model and --seed"
            )
        return
    if has_run and not config.overwrite:
        raise OptionError(
            f"{out} already holds a run ({FIT_CONFIG} / {checkpoint_dir(out).name}/); pass --resume to continue it, "
            "--overwrite to replace it, or another --output-dir"
        )
    make_writable_dir(out, "--output-dir")
    _remove_run(out)


def _launched_process() -> bool:
    """A process the distributed launcher started (not the one the user started)."""
    return bool(int(os.environ.get("LOCAL_RANK", 0)) or int(os.environ.get("NODE_RANK", 0)))


def make_writable_dir(path: Path, option: str) -> None:
    """Create ``path`` (and parents) or say in one line why the option's directory cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OptionError(f"{option} {path}: cannot create the directory ({error.strerror or error})") from None
    if not os.access(path, os.W_OK):
        raise OptionError(f"{option} {path}: the directory is not writable")


def _remove_run(out: Path) -> None:
    for name in (checkpoint_dir(out), out / "model", out / "logs"):
        shutil.rmtree(name, ignore_errors=True)
    for name in (out / FIT_CONFIG, out / METRICS_FILE, out / VAL_PREDICTIONS):
        name.unlink(missing_ok=True)


def _load_backbone(config: FitConfig):
    p = config.training.dropout
    return load_model_and_tokenizer(config.model, config.tokenizer, model_config=config.model_config,
                                    activation=config.activation, embedding_dropout_prob=p,
                                    attention_dropout_prob=p, output_dropout_prob=p)


def _build(config: FitConfig, task: Task, *, verbalizer: Verbalizer | None = None,
           predict_file: str | Path | None = None):
    model, tokenizer = _load_backbone(config)
    prompt_id = free_embedding_row(model.config.vocab_size, len(tokenizer)) if config.training.prompt_tokens else None
    data_options = config.data
    limit = model.config.max_sequence_length
    if (data_options.max_length or task.max_length) > limit:
        data_options = dataclasses.replace(data_options, max_length=limit)
    data = ClozeDataModule(task, tokenizer, data_options, pattern_id=config.pattern_id,
                           prompt_tokens=config.training.prompt_tokens, prompt_token_id=prompt_id,
                           seed=config.seed, predict_file=predict_file, verbalizer=verbalizer)
    generation = config.decoding.apply(task.generation, seed=config.seed) if task.kind == "generation" else None
    module = ClozeModule(model, tokenizer, task, config.training, labels=data.labels,
                         prompt_token_id=prompt_id, generation=generation,
                         rouge_postprocess=config.decoding.rouge_postprocess, seed=config.seed)
    return module, data


def _monitor(task: Task, options: TrainerOptions) -> str | None:
    if options.no_validation:
        return None
    name = (options.monitor or task.metrics[0]).removeprefix("val/")
    if name not in task.metrics:
        raise OptionError(f"--monitor {options.monitor}: task {task.name} has no such metric; it has "
                          f"{', '.join(task.metrics)}")
    return f"val/{name}"


def fit(config: FitConfig, callbacks: list[pl.Callback] | None = None) -> RunResult:
    """Finetune, keep the best checkpoint by the task's first metric, and save the model.

    ``callbacks`` are extra Lightning callbacks for the training run (early stopping, ...).
    """
    check_options(config, "fit")
    config = apply_finetune_defaults(config, announce=not _launched_process())
    task = resolve_task(config.task, config.task_options)
    monitor = _monitor(task, config.trainer)
    out = _output_dir(config)
    existed = out.exists()
    _prepare_output_dir(config, out)
    if config.trainer.no_validation:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, validation_split=None))
    try:
        trainer, module, data = _train(config, task, out, monitor, callbacks)
    except BaseException:
        # Nothing to resume from: leave the directory as the rerun needs it (gone if fit made it).
        if not config.resume and not last_checkpoint(out).is_file() and not _launched_process():
            _remove_run(out)
            if not existed and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise
    best = checkpoint_dir(out) / f"{BEST}.ckpt"
    if best.is_file():
        load_checkpoint_weights(module, best)
    evaluation = _evaluation_trainer(config, out, [ValidationPredictions(out / VAL_PREDICTIONS)])
    metrics = {}
    if not config.trainer.no_validation:
        metrics = _as_floats(evaluation.validate(module, datamodule=data, verbose=False))
    if config.data.test_split:
        metrics.update(_as_floats(evaluation.test(module, datamodule=data, verbose=False)))
    model_dir = out / "model"
    if evaluation.is_global_zero:
        save_finetuned(module, data, config, model_dir)
        _write_metrics(out / METRICS_FILE, metrics, task, config)
    return RunResult(metrics, out, model_dir)


def _train(config: FitConfig, task: Task, out: Path, monitor: str | None, callbacks: list[pl.Callback] | None):
    pl.seed_everything(config.seed, workers=True, verbose=False)
    module, data = _build(config, task)
    interrupt = StopOnInterrupt(out)
    trainer = build_trainer(config.trainer, out, monitor=monitor, mode="max",
                            callbacks=[*(callbacks or []), interrupt], distributed_sampler=False)
    if trainer.is_global_zero:
        write_text_atomic(out / FIT_CONFIG, json.dumps(config.to_dict(), indent=2) + "\n")
    with warnings.catch_warnings(), interrupt:
        # ClozeDataModule's state_dict restores the position in the epoch, which Lightning
        # cannot see when it warns that the dataloader is not resumable.
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        trainer.fit(module, datamodule=data, ckpt_path=str(last_checkpoint(out)) if config.resume else None)
    if interrupt.requested:  # during the last validation: training itself is complete and saved
        interrupt.stop(trainer)
    return trainer, module, data


def evaluate(config: FitConfig, stage: str = "validate", checkpoint: str | None = None) -> RunResult:
    """``validate`` or ``test`` a model directory (or a Lightning checkpoint of a run) on a split."""
    module, data, trainer = _saved_model_run(config, command=stage)
    if checkpoint:
        load_checkpoint_weights(module, Path(checkpoint))
    run = trainer.validate if stage == "validate" else trainer.test
    metrics = _as_floats(run(module, datamodule=data, verbose=False))
    return RunResult(metrics)


def predict(config: FitConfig, input_file: str | Path, output_file: str | Path | None = None,
            format: str = "jsonl") -> RunResult:
    """Predict every row of ``input_file`` (CSV, TSV, JSONL or JSON by extension; a benchmark's
    test file) with a finetuned model.

    The model directory's ``glm_tune.json`` supplies the task, pattern and label words. Writes
    JSONL: each input row plus ``prediction`` and, for cloze tasks, ``scores``; with ``format``
    ``superglue`` or ``clue`` the leaderboard's file (``BoolQ.jsonl``, ``tnewsf_predict.json``, ...)
    in the folder ``output_file`` (default: the input's folder), see :mod:`glm_tune.task.submission`.
    """
    path = Path(output_file) if output_file else Path(input_file).with_suffix(".predictions.jsonl")
    if format == "jsonl":
        _check_predictions_path(path, Path(input_file))
    module, data, trainer = _saved_model_run(config, predict_file=input_file, command="predict")
    batches = trainer.predict(module, datamodule=data)
    predictions = [p for batch in batches for p in batch]
    if format != "jsonl":
        from glm_tune.task.submission import write_submission

        folder = Path(output_file) if output_file else Path(input_file).parent
        return RunResult({}, predictions=write_submission(data.task, data.split("predict").rows, predictions,
                                                          format, folder))
    write_predictions(path, data.split("predict").rows, predictions)
    return RunResult({}, predictions=path)


def _check_predictions_path(path: Path, input_file: Path) -> None:
    """Before any prediction is made: the output must not replace the input and must be writable."""
    if path.resolve() == input_file.resolve():
        raise OptionError(f"--output {path} is the --input file: predictions would replace the rows; "
                          "give another --output")
    if path.is_dir():
        raise OptionError(f"--output {path} is a directory; give a file name")
    probe = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.open("w").close()
        probe.unlink()
    except OSError as error:
        raise OptionError(f"--output {path}: cannot write there ({error.strerror or error})") from None


def _evaluation_trainer(config: FitConfig, out: Path, callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    """A Trainer that only evaluates: no checkpoints, no loggers, rows sharded by ClozeBatchSampler."""
    return build_trainer(dataclasses.replace(config.trainer, loggers=[]), out, enable_checkpointing=False,
                         distributed_sampler=False, callbacks=callbacks)


def _saved_model_run(config: FitConfig, predict_file: str | Path | None = None, command: str = "validate"):
    """Module, data and evaluation trainer for a model directory, set up as its record says."""
    check_options(config, command)
    task, verbalizer, config = _task_for_model(config)
    model_dir = config.model
    adapter = is_adapter_dir(model_dir)
    if adapter:
        config = _adapter_base(config)
    pl.seed_everything(config.seed, verbose=False)
    module, data = _build(config, task, verbalizer=verbalizer, predict_file=predict_file)
    if adapter:
        load_adapter(module.model, model_dir)
    _load_prompt(module, model_dir)
    return module, data, _evaluation_trainer(config, _output_dir(config))


def _adapter_base(config: FitConfig) -> FitConfig:
    """An adapter directory's run: its base model, its tokenizer, and LoRA set as it was trained."""
    values = read_adapter_config(config.model)
    if not values["base_model"]:
        raise CheckpointError(f"{config.model}/adapter_config.json names no base_model_name_or_path")
    training = dataclasses.replace(config.training, lora_rank=values["rank"], lora_alpha=values["alpha"],
                                   lora_dropout=values["dropout"], lora_targets=values["targets"])
    return dataclasses.replace(config, model=values["base_model"], tokenizer=config.tokenizer or config.model,
                               training=training)


def _task_for_model(config: FitConfig) -> tuple[Task, Verbalizer | None, FitConfig]:
    """The task, label words and pattern a finetuned model directory records (else the config's).

    The returned config names the resolved directory, so a hub model is looked up only once.
    """
    directory = resolve(config.model)
    config = dataclasses.replace(config, model=str(directory))
    record_path = directory / RUN_RECORD
    if not record_path.is_file():
        if not config.task and not config.task_options.given():
            raise OptionError(f"{config.model} has no {RUN_RECORD} (not a glm-tune finetuned model): pass --task")
        return resolve_task(config.task, config.task_options), None, config
    record = json.loads(record_path.read_text(encoding="utf-8"))
    # A task from a file or options is rebuilt from its recorded definition: the file may be gone.
    own = task_from_record(record) if not config.task or config.task == record["task"] else None
    task = own or resolve_task(config.task or record["task"], config.task_options)
    if config.task and config.task != record["task"]:
        print(f"note: {config.model} was finetuned on {record['task']}, evaluating it on {config.task}", file=sys.stderr)
        return task, None, config
    verbalizer = Verbalizer(record["verbalizer"], source=str(record_path)) if record.get("verbalizer") else None
    training = dataclasses.replace(config.training, prompt_tokens=record.get("prompt_tokens", 0),
                                   prompt_encoder=record.get("prompt_encoder", "lstm"))
    data = dataclasses.replace(config.data, max_length=config.data.max_length or record.get("max_length"))
    pattern_id = config.pattern_id if config.pattern_id is not None else record["pattern_id"]
    return task, verbalizer, dataclasses.replace(config, task=record["task"], pattern_id=pattern_id,
                                                 training=training, data=data)


def load_checkpoint_weights(module: ClozeModule, path: Path) -> None:
    """Load a Lightning checkpoint's weights (tensors only: nothing in the file is executed)."""
    if not path.is_file():
        raise CheckpointError(f"--checkpoint {path} not found")
    state = load_tensors(path)
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a glm-tune checkpoint (no state_dict in it)")
    weights, own = state["state_dict"], module.state_dict()
    lora, ours = (any(".lora_" in key for key in keys) for keys in (weights, own))
    if lora and not ours:
        raise CheckpointError(f"{path} holds LoRA adapters but the model given has none: evaluate it with --model "
                              f"OUTPUT_DIR/{ADAPTER_DIR} (after --merge-lora) or OUTPUT_DIR/model")
    if ours and not lora:
        raise CheckpointError(f"{path} holds no LoRA adapters but the model given is an adapter: pass its base model")
    missing = [k for k in own if k not in weights]
    unknown = [k for k in weights if k not in own]
    reshaped = [k for k in own if k in weights and getattr(weights[k], "shape", None) != own[k].shape]
    if missing or unknown or reshaped:
        raise CheckpointError(
            f"{path} does not fit this model: {len(missing)} weights missing, {len(unknown)} unknown, "
            f"{len(reshaped)} of another shape (first: {(missing + unknown + reshaped)[0]}); "
            "was it written with another --model?"
        )
    module.load_state_dict(weights)


def save_finetuned(module: ClozeModule, data: ClozeDataModule, config: FitConfig, directory: Path) -> None:
    """The model in the hub layout, its tokenizer, and the record ``predict`` needs."""
    from safetensors.torch import save_file

    training = config.training
    adapter = training.lora_rank > 0 and not training.merge_lora
    if training.lora_rank and training.merge_lora:
        save_model(merged_model(module.model), directory)
        # The adapter as well, loadable on its own over the base model.
        save_finetuned(module, data, dataclasses.replace(config, training=dataclasses.replace(training, merge_lora=False)),
                       directory.parent / ADAPTER_DIR)
    elif adapter:
        local = Path(config.model)
        save_adapter(module.model, directory, str(local.resolve()) if local.is_dir() else config.model)
    else:
        save_model(module.model, directory)
    data.tokenizer.save_pretrained(directory)
    if module.prompt is not None:
        save_file({k: v.detach().cpu().contiguous() for k, v in module.prompt.state_dict().items()},
                  str(directory / PROMPT_FILE))
    task = data.task
    record = {
        "task": config.task,
        "kind": task.kind,
        "pattern_id": data.pattern_id,
        "template": repr(data.template),
        "verbalizer": dict(zip(data.labels.labels, (list(w) for w in data.labels.words))) if data.labels else None,
        "max_length": data.max_length,
        "prompt_tokens": config.training.prompt_tokens,
        "prompt_encoder": config.training.prompt_encoder,
        "generation": dataclasses.asdict(module.generation) if task.kind == "generation" else None,
        "base_model": config.model,
        "lora": {"rank": training.lora_rank, "alpha": training.lora_alpha, "targets": training.lora_targets,
                 "merged": training.merge_lora} if training.lora_rank else None,
        **task_record(task),
    }
    write_text_atomic(directory / RUN_RECORD, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _load_prompt(module: ClozeModule, model: str) -> None:
    if module.prompt is None:
        return
    from safetensors.torch import load_file

    path = resolve(model) / PROMPT_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} not found: the model was finetuned with prompt tokens but their encoder is missing")
    module.prompt.load_state_dict(load_file(str(path)))


def _as_floats(results: list[dict[str, Any]]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for result in results:
        merged.update({k: float(v) for k, v in result.items()})
    return merged


def _write_metrics(path: Path, metrics: dict[str, float], task: Task, config: FitConfig) -> None:
    payload = {"task": config.task, "model": config.model, "pattern_id": config.pattern_id, "seed": config.seed,
               "metrics": metrics}
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def metrics_table(metrics: dict[str, float]) -> list[tuple[str, ...]]:
    """Rows for :func:`glm_tune.table.format_table`: split, metric, value."""
    rows = [("split", "metric", "value")]
    for key, value in sorted(metrics.items()):
        split, _, name = key.partition("/")
        rows.append((split, name, f"{value:.4f}"))
    return rows


