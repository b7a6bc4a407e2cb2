"""The ``glm-tune`` command: a thin layer that parses arguments and calls the Python API.

Each subcommand is a plain function whose signature and docstring become its options and
``--help`` text (jsonargparse), so everything the CLI does can be called from Python too.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import shlex
import sys
import warnings
from typing import Literal

from glm_tune.commands import convert, fill, models, tasks, train_tokenizer
from glm_tune.errors import GLMTuneError, OptionError, RunInterrupted
from glm_tune.table import format_table
from glm_tune.training.options import option_name

# The option dataclasses' modules import Lightning and datasets (seconds): the parser of a
# command is built, and they are imported, only when that command runs, so `glm-tune --help`,
# `models` and `tasks` start about as fast as torch.


_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:_[a-z0-9]+)+)")


def dashed(text: str) -> str:
    """``--max_epochs`` spelled as everywhere else, ``--max-epochs`` (both are accepted)."""
    return _OPTION.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


def _help_formatter():
    from jsonargparse import DefaultHelpFormatter

    class DashedHelpFormatter(DefaultHelpFormatter):
        def format_help(self) -> str:
            return dashed(super().format_help())

    return DashedHelpFormatter


def _parser(**kwargs):
    from jsonargparse import ArgumentParser

    return ArgumentParser(exit_on_error=False, formatter_class=_help_formatter(), **kwargs)


def _run_parser(description: str, command: str, sections: tuple[str, ...]):
    """Options of fit, validate, test or predict (the run API declares them, see add_fit_options)."""
    from jsonargparse import ActionConfigFile

    from glm_tune.training.run import add_fit_options

    parser = _parser(description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file setting any of these options "
                        "(its keys are the option names: task: sst2, max_epochs: 3, ...).")
    if command != "fit":
        # A model directory written by fit records its task.
        parser.add_argument("--task", type=str | None, default=None,
                            help="Task name, path/to/task.yaml or path/to/file.py:NAME (default: the one the model was "
                                 "finetuned on).")
    add_fit_options(parser, command, sections, skip=set() if command == "fit" else {"task"})
    return parser


def _fit_config(namespace):
    from glm_tune.training.run import FitConfig

    return FitConfig.from_options(vars(namespace))


def _print_metrics(metrics: dict[str, float], where: str | None = None) -> None:
    from glm_tune.training.run import metrics_table

    if metrics:
        print(format_table(metrics_table(metrics)))
    if where:
        print(where)


def _fit(namespace) -> None:
    from glm_tune.training.report import find_logs, write_report
    from glm_tune.training.run import fit

    result = fit(_fit_config(namespace))
    # The picture of the run (`glm-tune report` draws it again), when the CSV logger wrote its logs.
    drawn = f"\nreport:  {write_report(result.output_dir).curves}" if find_logs(result.output_dir) else ""
    _print_metrics(result.metrics, f"\nmetrics: {result.output_dir / 'metrics.json'}\nmodel:   {result.model_dir}"
                                   + drawn)


def _evaluate(stage: str):
    def command(namespace) -> None:
        from glm_tune.training.run import evaluate

        checkpoint = namespace.checkpoint
        config = _fit_config(_without(namespace, "checkpoint"))
        _print_metrics(evaluate(config, stage, checkpoint).metrics)

    return command


def _predict(namespace) -> None:
    from glm_tune.training.run import predict

    result = predict(_fit_config(_without(namespace, "input", "output", "format")), namespace.input, namespace.output,
                     namespace.format)
    print(f"predictions: {result.predictions}")


def _without(namespace, *names: str):
    from jsonargparse import Namespace

    return Namespace(**{k: v for k, v in vars(namespace).items() if k not in names})


def _function_command(function):
    def command(namespace) -> None:
        function(**{k: v for k, v in vars(namespace).items() if k != "config"})

    return command


_HELP = {
    "fit": "finetune a model on a task",
    "validate": "validate a model on a task",
    "test": "test a model on a task",
    "predict": "predict rows with a finetuned model",
    "suite": "run a suite of fit configs and tabulate the results",
    "pretrain": "pretrain or continue pretraining on raw text",
    "train-tokenizer": "train a SentencePiece GLM tokenizer on raw text",
    "models": "List the GLM checkpoints glm-tune knows by name, with sizes and tokenizers.",
    "tasks": "List every task glm-tune knows, with its kind, language, metrics and data files.",
    "fill": "Fill the blanks of a text with a GLM, or score choices for its blank.",
    "report": "Draw a fit run's training loss and validation metrics (and confusion matrix) as PNGs.",
    "convert": "Write a checkpoint of any layout (THUDM, model-parallel shards, FlagAI, PaddleNLP) in the hub layout.",
    "fewshot": "few-shot protocol: folds or seeds x patterns, ensemble, distillation, calibration",
}


def build_parser(commands=None):
    """The glm-tune argument parser: one subcommand per command, each with its --help.

    ``commands``: the subcommands to build in full (default: all); the others get a parser
    without options, enough for `glm-tune --help`, so their modules are not imported.
    """
    parser = _parser(prog="glm-tune", description="Finetune GLM on NLU and seq2seq tasks as cloze questions.")
    subcommands = parser.add_subcommands(dest="command")
    for name, help_text in _HELP.items():
        full = commands is None or name in commands
        subcommands.add_subcommand(name, _SUBPARSERS[name]() if full else _parser(description=help_text),
                                   help=help_text)
    return parser


def _fit_parser():
    return _run_parser(
        "Finetune a GLM on a task: trains, keeps the best checkpoint by the task's first metric, prints the "
        "metrics and saves the model (hub layout + tokenizer + task record) in OUTPUT_DIR/model.",
        "fit", ("data", "training", "trainer", "task_options", "decoding"),
    )


def _evaluate_parser(stage: str):
    def build():
        sub = _run_parser(
            f"Evaluate a model on the task's {'validation' if stage == 'validate' else 'test'} split. A model "
            "directory written by fit knows its task, pattern and label words; any other model needs --task.",
            stage, ("data", "trainer", "decoding"),
        )
        sub.add_argument("--checkpoint", type=str | None, default=None,
                         help="a Lightning checkpoint of a fit run (OUTPUT_DIR/checkpoints/best.ckpt) to evaluate "
                              "instead of the weights in --model")
        return sub

    return build


def _predict_parser():
    parser = _run_parser(
        "Predict rows of a JSONL (or TSV) file with a model finetuned by fit; writes each row with its "
        "prediction and scores as JSONL, plus input_line, the row's line in the input file.",
        "predict", ("data", "trainer", "decoding"),
    )
    parser.add_argument("--input", type=str, required=True, help="rows to predict (JSONL or TSV with header)")
    parser.add_argument("--output", type=str | None, default=None,
                        help="where to write predictions (default: INPUT.predictions.jsonl); with "
                             "--format superglue|clue the folder for the leaderboard's file (default: "
                             "the input's folder)")
    parser.add_argument("--format", type=Literal["jsonl", "superglue", "clue"], default="jsonl",
                        help="jsonl: each row with its prediction and scores; superglue / clue: the file "
                             "the leaderboard takes (BoolQ.jsonl, MultiRC.jsonl, tnewsf_predict.json, ...), "
                             "rows keyed by the input's idx / id")
    return parser


def _suite_parser():
    parser = _parser(
        description="Run every fit config (*.yaml) of a suite directory in name order, each into "
        "OUTPUT_DIR/<run name>, and write a markdown table (run, task, model, metric, expected, got, delta) "
        "after every run; a failed run is recorded with its error and the suite goes on, then exits 1 with "
        "one line per failed run. The suite's expected.yaml gives each run's metric and published score. "
        "Paths in the YAMLs are relative to the current directory.",
    )
    parser.add_argument("suite_dir", type=str, help="directory of fit YAMLs plus expected.yaml "
                        "(e.g. experiments/smoke)")
    parser.add_argument("--output_dir", type=str, required=True,
                        help="runs go to OUTPUT_DIR/<run name>; an earlier run there is replaced")
    parser.add_argument("--data_dir", type=str | None, default=None,
                        help="root folder of the data sets: each run reads DATA_DIR/<last folder of its "
                             "YAML's data_dir> (data/superglue/COPA -> DATA_DIR/COPA)")
    parser.add_argument("--results", type=str | None, default=None,
                        help="markdown file for the results table (default: experiments/RESULTS.md); "
                             "only this suite's section of it is rewritten")
    parser.add_argument("--set", type=str, action="append", default=None,
                        help="KEY=VALUE: a fit option applied on top of every YAML, its value read as YAML; "
                             "repeat for several (--set max_steps=2 --set precision=bf16-mixed)")
    parser.add_argument("--only", type=str, default=None, nargs="+",
                        help="run only these runs (YAML file names without .yaml)")
    return parser


def _function_parser(function, positional: bool = False):
    def build():
        sub = _parser(description=function.__doc__.split("\n\n")[0])
        sub.add_function_arguments(function, as_positional=positional)
        return sub

    return build


def _fill_parser():
    """fill's options, its decoding ones read off GenerationConfig (with fill's defaults), flat."""
    from glm_tune.cloze.fill import FILL_DEFAULTS
    from glm_tune.cloze.generation import GenerationConfig

    sub = _parser(description=fill.__doc__.split("\n\n")[0])
    sub.add_function_arguments(fill, skip={"generation"})
    sub.add_class_arguments(GenerationConfig, nested_key=None, skip={"banned_ids"})
    sub.set_defaults({name: getattr(FILL_DEFAULTS, name) for name in _decoding_fields()})
    return sub


def _decoding_fields() -> list[str]:
    from glm_tune.cloze.generation import GenerationConfig

    return [f.name for f in dataclasses.fields(GenerationConfig) if f.name != "banned_ids"]


def _fill(namespace) -> None:
    from glm_tune.cloze.generation import GenerationConfig

    values = {k: v for k, v in vars(namespace).items() if k != "config"}
    generation = GenerationConfig(**{name: values.pop(name) for name in _decoding_fields()})
    fill(**values, generation=generation)


def _report_parser():
    from glm_tune.training.report import report

    return _function_parser(report, positional=True)()


def _report(namespace) -> None:
    from glm_tune.training.report import report

    _function_command(report)(namespace)


def _pretrain_parser():
    from jsonargparse import ActionConfigFile

    from glm_tune.pretraining.infilling import InfillingConfig
    from glm_tune.pretraining.pretrain import PretrainConfig
    from glm_tune.training.trainer import TrainerOptions

    parser = _parser(
        description="GLM's blank-infilling pretraining on raw text (.txt, .jsonl, .json, .tsv): a new model "
        "(give --tokenizer and the shape options) or more pretraining of a checkpoint (--model) on your domain. "
        "[MASK] spans (Poisson lengths), [sMASK] sentences and a [gMASK] document tail, mixed per --mixture. "
        "The model is saved in OUTPUT_DIR/model in the hub layout with its tokenizer.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file setting any of these options.")
    parser.add_class_arguments(PretrainConfig, nested_key=None, skip={"infilling", "trainer"})
    parser.add_class_arguments(InfillingConfig, nested_key=None)
    parser.add_class_arguments(TrainerOptions, nested_key=None)
    return parser


def _pretrain(namespace) -> None:
    from glm_tune.pretraining.pretrain import PretrainConfig, pretrain

    print(f"model: {pretrain(PretrainConfig.from_options(vars(namespace)))}")


def _fewshot_parser():
    from glm_tune.fewshot.protocol import FewShotConfig

    parser = _parser(
        description="Few-shot finetuning as GLM and PET measure it: every pattern of the task trained on each fold "
        "(--folds, FewCLUE's train_K/dev_K) or seeded stratified draw (--shots k --seeds), the learning rate and "
        "epoch chosen on the fold's dev split; prints mean ± std over the runs for each pattern, their ensemble "
        "and zero-shot, and writes OUTPUT_DIR/fewshot.json, fewshot.md and fewshot.png. Finished runs in "
        "OUTPUT_DIR are skipped, so an interrupted command continues when run again.",
    )
    parser.add_class_arguments(FewShotConfig, nested_key=None)
    return parser


def _fewshot(namespace) -> None:
    from glm_tune.fewshot.protocol import FewShotConfig, run_fewshot
    from glm_tune.fewshot.report import table

    values = {k: v for k, v in vars(namespace).items() if not k.startswith("__")}
    result = run_fewshot(FewShotConfig(**values))
    print(table(result))
    print(f"\nresults: {namespace.output_dir}/fewshot.json, fewshot.md, fewshot.png")


def _suite(namespace) -> None:
    import yaml

    from glm_tune.training.suite import run_suite

    overrides = {}
    for item in namespace.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OptionError(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.strip().lstrip("-").replace("-", "_")] = yaml.safe_load(value)
    failed = []

    def report(record) -> None:
        if record.status == "failed":
            failed.append(record)
            print(f"glm-tune: run {record.name} failed: {' '.join(str(record.error).split())}", file=sys.stderr)

    path = run_suite(namespace.suite_dir, namespace.output_dir, overrides, namespace.only, namespace.results,
                     namespace.data_dir, on_run_end=report)
    print(f"results: {path}")
    if failed:
        print(f"glm-tune: {len(failed)} of the suite's runs failed (errors in {path} and each run's "
              "suite_error.txt)", file=sys.stderr)
        raise SystemExit(1)


_HANDLERS = {"fit": _fit, "validate": _evaluate("validate"), "test": _evaluate("test"), "predict": _predict,
             "models": _function_command(models), "tasks": _function_command(tasks), "fill": _fill,
             "suite": _suite, "pretrain": _pretrain, "train-tokenizer": _function_command(train_tokenizer),
             "convert": _function_command(convert), "report": _report, "fewshot": _fewshot}

_SUBPARSERS = {"fit": _fit_parser, "validate": _evaluate_parser("validate"), "test": _evaluate_parser("test"),
               "predict": _predict_parser, "suite": _suite_parser, "pretrain": _pretrain_parser,
               "train-tokenizer": _function_parser(train_tokenizer), "models": _function_parser(models),
               "tasks": _function_parser(tasks), "fill": _fill_parser,
               "convert": _function_parser(convert, positional=True), "report": _report_parser,
               "fewshot": _fewshot_parser}


def _switches(command: str | None) -> set[str]:
    """The command's bool options, read off its option dataclasses or function, so a new one is
    a switch too (types are strings under ``from __future__ import annotations``)."""
    if command in ("fit", "validate", "test", "predict"):
        from glm_tune.training.run import OPTION_SECTIONS, FitConfig

        kinds = (FitConfig, *OPTION_SECTIONS.values())
    elif command == "pretrain":
        from glm_tune.pretraining.infilling import InfillingConfig
        from glm_tune.pretraining.pretrain import PretrainConfig
        from glm_tune.training.trainer import TrainerOptions

        kinds = (PretrainConfig, InfillingConfig, TrainerOptions)
    elif command == "fewshot":
        from glm_tune.fewshot.protocol import FewShotConfig

        kinds = (FewShotConfig,)
    else:
        kinds = ()
    names = {f.name for kind in kinds for f in dataclasses.fields(kind) if f.type in (bool, "bool")}
    function = {"fill": fill, "train-tokenizer": train_tokenizer}.get(command)
    if function is not None:
        names |= {n for n, p in inspect.signature(function).parameters.items() if p.annotation in (bool, "bool")}
    return {f"--{name}" for name in names}


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


_NEGATIVE = re.compile(r"^-(\d|\.\d|inf$)")


def _normalise(argv: list[str]) -> list[str]:
    """Accept --max-epochs as well as --max_epochs and a bare --resume for --resume true;
    `fill "text"` passes the text as --text."""
    switches = _switches(_command(argv))
    out = []
    for number, arg in enumerate(argv):
        if arg.startswith("--") and "-" in arg[2:].split("=")[0]:
            name, sep, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + sep + value
        following = argv[number + 1] if number + 1 < len(argv) else "--"
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE.match(arg):
            # argparse takes -1e-4 for an option: --learning-rate -1e-4 reaches the checks as a value.
            out[-1] += "=" + arg
            continue
        out.append(arg)
        if arg in switches and following.startswith("--"):
            out.append("true")
    if len(out) > 1 and out[0] == "fill" and not out[1].startswith("-"):
        out.insert(1, "--text")
    return out


def resume_command(argv: list[str]) -> str:
    """The command line that continues an interrupted ``glm-tune fit ARGS`` (or ``pretrain``):
    ARGS with --resume, without --overwrite (which would start afresh)."""
    kept, skip_value = [], False
    for number, arg in enumerate(argv):
        name = arg.split("=")[0].replace("_", "-")
        if skip_value:
            skip_value = False
            if arg.lower() in ("true", "false"):
                continue
        if name in ("--overwrite", "--resume"):
            following = argv[number + 1] if number + 1 < len(argv) else ""
            skip_value = "=" not in arg and following.lower() in ("true", "false")
            continue
        kept.append(arg)
    return shlex.join(["glm-tune", *kept, "--resume"])


def _one_line(error: BaseException) -> str:
    return dashed(" ".join(str(error).split()))


def _argument_error(message: str) -> str:
    """jsonargparse's 'Parser key "max_epochs": ... Expected a <class 'int'> ... Given value: x'
    as '--max-epochs x: expected int or none'."""
    match = re.match(r'Parser key "(\w+)":\s*(.*)', message, re.S)
    if not match:
        return message
    name, rest = option_name(match.group(1)), match.group(2)
    expected = []
    for cls, literal in re.findall(r"Expected a (?:<class '(\w+)'>|typing\.Literal\[(.*?)\])", rest):
        expected.append(("none" if cls == "NoneType" else cls) if cls else
                        "one of " + ", ".join(v.strip(" '") for v in literal.split(",")))
    value = re.search(r"(?:Got|Given) value: (.*)$", rest, re.S)
    if not expected or not value:
        return f"{name}: {rest}"
    return f"{name} {value.group(1).strip()}: expected {' or '.join(dict.fromkeys(expected))}"


def main(argv: list[str] | None = None) -> None:
    """``glm-tune``: a user error (a GLMTuneError) is one line on stderr and exit status 2; with
    --debug it keeps its traceback. Ctrl-C exits 130."""
    from jsonargparse import ArgumentError, set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    given = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in given
    given = [arg for arg in given if arg != "--debug"]
    argv = _normalise(given)
    command = _command(argv)
    if command in ("fit", "validate", "test", "predict", "suite", "pretrain"):
        import lightning.pytorch  # noqa: F401  (it sets its log level on import: set ours after)

        # Lightning's INFO lines (accelerator probing, logger tips) drown the results; warnings stay.
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        # Lightning internals' deprecation notice under torch 2.13, and its caution about custom
        # batch samplers, which ClozeBatchSampler answers (it yields every row, no drop_last).
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        warnings.filterwarnings("ignore", message=r"You are using a custom batch sampler.*")
    try:
        parser = build_parser({command} if command in _HANDLERS else set())
        try:
            namespace = parser.parse_args(argv)
        except ArgumentError as error:
            raise OptionError(_argument_error(str(error))) from error
        _HANDLERS[namespace.command](namespace[namespace.command])
    except RunInterrupted as error:
        if debug:
            raise
        print(f"glm-tune: {_one_line(error)}", file=sys.stderr)
        if error.resumable and command in ("fit", "pretrain"):
            print(f"continue with: {resume_command(given)}", file=sys.stderr)
        raise SystemExit(130) from None
    except GLMTuneError as error:
        if debug:
            raise
        print(f"glm-tune: error: {_one_line(error)}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        if debug:
            raise
        print("\nglm-tune: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
