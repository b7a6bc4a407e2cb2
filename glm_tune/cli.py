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
import unicodedata
import warnings
from typing import Literal

from glm_tune.errors import GLMTuneError, OptionError, RunInterrupted
from glm_tune.options import fit_only_fields, option_name

# The option dataclasses' modules import Lightning and datasets (seconds): the parser of a
# command is built, and they are imported, only when that command runs, so `glm-tune --help`,
# `models` and `tasks` start about as fast as torch.


def models() -> None:
    """List the GLM checkpoints glm-tune knows by name, with sizes and tokenizers.

    Any local directory in the hub layout (config.json + weights) or a hub id owner/name can be
    passed wherever a model is asked for.
    """
    from glm_tune.checkpoint import MODELS

    rows = [("name", "aliases", "hub id", "params", "layers", "hidden", "max len", "tokenizer")]
    for spec in MODELS:
        c = spec.config
        rows.append((
            spec.name,
            ", ".join(spec.aliases) or "-",
            spec.hub_id,
            f"{c.num_parameters() / 1e6:,.0f}M",
            str(c.num_layers),
            str(c.hidden_size),
            str(c.max_sequence_length),
            spec.tokenizer,
        ))
    print(format_table(rows))
    notes = [f"  {spec.name}: {spec.notes}" for spec in MODELS if spec.notes]
    if notes:
        print("\nnotes:\n" + "\n".join(notes))


def tasks() -> None:
    """List every task glm-tune knows, with its kind, language, metrics and data files.

    A task of your own is a Task in a Python file, passed as --task path/to/file.py:NAME.
    """
    from glm_tune.task import all_tasks

    rows = [("task", "kind", "lang", "metrics", "data files (--data-dir)", "hub dataset")]
    for name, task in sorted(all_tasks().items()):
        rows.append((
            name, task.kind, task.language, ", ".join(task.metrics), _short_list(list(task.files.values()), 3),
            "/".join(task.hub_dataset) if task.hub_dataset else "-",
        ))
    print(format_table(rows))


def _short_list(items: list[str], keep: int) -> str:
    more = f", +{len(items) - keep} more" if len(items) > keep else ""
    return ", ".join(items[:keep]) + more


def fill(
    text: str | None = None,
    model: str = "",
    tokenizer: str | None = None,
    choices: str | None = None,
    strategy: Literal["greedy", "beam", "sample"] = "greedy",
    max_new_tokens: int = 32,
    min_new_tokens: int = 0,
    num_beams: int = 4,
    length_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    choice_length_penalty: float = 0.0,
    include_eop: bool = True,
    device: str = "cpu",
) -> None:
    """Fill the blanks of a text with a GLM, or score choices for its blank.

    `glm-tune fill "北京故宫是中国[MASK]非物质文化遗产。" --model glm-large-ch` prints the text with
    the blank filled. [MASK] asks for a short span, [sMASK] for a sentence, [gMASK] for long
    left-to-right generation; several blanks are filled in turn, each answer joining the context
    of the next. A text with no blank gets [gMASK] appended. With no text, lines are read from
    standard input, one text per line.

    Args:
        text: the text with one or more blanks (positional); omit to read lines from stdin.
        model: a known model name (see `glm-tune models`), a hub id owner/name, or a directory.
        tokenizer: directory of the tokenizer files when the model directory has none.
        choices: comma-separated candidate fills; prints each choice's log-probability instead
            of generating (the text must have exactly one blank).
        strategy: greedy, beam (beam search) or sample.
        max_new_tokens: most tokens generated per blank, <|endofpiece|> included.
        min_new_tokens: <|endofpiece|> is forbidden before this many tokens.
        num_beams: beams for beam search.
        length_penalty: beam search ranks spans by log-prob / length ** length_penalty.
        no_repeat_ngram_size: never repeat an n-gram of this size within a span (0: off).
        temperature: sampling temperature.
        top_k: sample from the k most likely tokens (0: all).
        top_p: nucleus sampling: the smallest set of tokens whose probability reaches p.
        seed: random seed for sampling (reproducible output).
        choice_length_penalty: with --choices, divide each score by its token count ** this
            (0: plain sum, GLM's default; 1: mean log-prob, as GLM uses for WSC).
        include_eop: with --choices, score the final <|endofpiece|> too (GLM's exact multi-token
            scorer); --include_eop false gives the Hugging Face port's multiple-choice scores.
        device: cpu, cuda, cuda:1, ...
    """
    from glm_tune.fill import fill_text, load_model_and_tokenizer, score_choices
    from glm_tune.generation import GenerationConfig

    if not model:
        raise OptionError("--model is required: a known name (glm-tune models), a hub id or a directory")
    config = GenerationConfig(
        strategy=strategy, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, num_beams=num_beams,
        length_penalty=length_penalty, no_repeat_ngram_size=no_repeat_ngram_size, temperature=temperature,
        top_k=top_k, top_p=top_p, seed=seed,
    )
    glm, tok = load_model_and_tokenizer(model, tokenizer, device=device)
    texts = [text] if text is not None else [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise OptionError("no text given and nothing on standard input")
    for line in texts:
        if choices is not None:
            options = [c.strip() for c in choices.split(",")]
            scores = score_choices(glm, tok, line, options, include_eop=include_eop,
                                   length_penalty=choice_length_penalty)
            best = max(range(len(options)), key=scores.__getitem__)
            rows = [("choice", "log-prob")] + [
                (("* " if i == best else "  ") + c, f"{s:.4f}") for i, (c, s) in enumerate(zip(options, scores))
            ]
            print(format_table(rows))
            continue
        result = fill_text(glm, tok, line, config)
        if result.appended_gmask:
            print("note: the text has no blank; appended [gMASK] to continue it", file=sys.stderr)
        if result.unknown_tokens:
            print(f"warning: {result.unknown_tokens} piece(s) of the text are unknown to the tokenizer (<unk>)",
                  file=sys.stderr)
        print(result.text)


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell + " " * (w - display_width(cell)) for cell, w in zip(row, widths)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _sections() -> dict[str, type]:
    from glm_tune.data import DataOptions
    from glm_tune.module import TrainingOptions
    from glm_tune.trainer import TrainerOptions

    return {"data": DataOptions, "training": TrainingOptions, "trainer": TrainerOptions}


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
    """Options of fit, validate, test or predict: fields marked FIT_ONLY are fit's alone."""
    from jsonargparse import ActionConfigFile

    from glm_tune.run import FitConfig

    fit = command == "fit"
    parser = _parser(description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file setting any of these options "
                        "(its keys are the option names: task: sst2, max_epochs: 3, ...).")
    kinds = _sections()
    skip = set(kinds) | (set() if fit else fit_only_fields(FitConfig))
    if not fit:
        # A model directory written by fit records its task.
        skip.add("task")
        parser.add_argument("--task", type=str | None, default=None,
                            help="Task name or path/to/file.py:NAME (default: the one the model was finetuned on).")
    parser.add_class_arguments(FitConfig, nested_key=None, skip=skip)
    for section in sections:
        skip = set() if fit else fit_only_fields(kinds[section])
        parser.add_class_arguments(kinds[section], nested_key=None, skip=skip)
    return parser


def _fit_config(namespace):
    from glm_tune.run import FitConfig

    values = {k: v for k, v in vars(namespace).items() if k != "config" and not k.startswith("__")}
    nested = {}
    for section, kind in _sections().items():
        names = {f.name for f in dataclasses.fields(kind)}
        nested[section] = kind(**{k: values.pop(k) for k in list(values) if k in names})
    top = {f.name for f in dataclasses.fields(FitConfig)} - set(nested)
    return FitConfig(**{k: v for k, v in values.items() if k in top}, **nested)


def _print_metrics(metrics: dict[str, float], where: str | None = None) -> None:
    from glm_tune.run import metrics_table

    if metrics:
        print(format_table(metrics_table(metrics)))
    if where:
        print(where)


def _fit(namespace) -> None:
    from glm_tune.run import fit

    result = fit(_fit_config(namespace))
    _print_metrics(result.metrics, f"\nmetrics: {result.output_dir / 'metrics.json'}\nmodel:   {result.model_dir}")


def _evaluate(stage: str):
    def command(namespace) -> None:
        from glm_tune.run import evaluate

        checkpoint = namespace.checkpoint
        config = _fit_config(_without(namespace, "checkpoint"))
        _print_metrics(evaluate(config, stage, checkpoint).metrics)

    return command


def _predict(namespace) -> None:
    from glm_tune.run import predict

    result = predict(_fit_config(_without(namespace, "input", "output")), namespace.input, namespace.output)
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
        "fit", ("data", "training", "trainer"),
    )


def _evaluate_parser(stage: str):
    def build():
        sub = _run_parser(
            f"Evaluate a model on the task's {'validation' if stage == 'validate' else 'test'} split. A model "
            "directory written by fit knows its task, pattern and label words; any other model needs --task.",
            stage, ("data", "trainer"),
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
        "predict", ("data", "trainer"),
    )
    parser.add_argument("--input", type=str, required=True, help="rows to predict (JSONL or TSV with header)")
    parser.add_argument("--output", type=str | None, default=None,
                        help="where to write predictions (default: INPUT.predictions.jsonl)")
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


def _function_parser(function):
    def build():
        sub = _parser(description=function.__doc__.split("\n\n")[0])
        sub.add_function_arguments(function, as_positional=False)
        return sub

    return build


def _pretrain_parser():
    from jsonargparse import ActionConfigFile

    from glm_tune.infilling import InfillingConfig
    from glm_tune.pretrain import PretrainConfig
    from glm_tune.trainer import TrainerOptions

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
    from glm_tune.infilling import InfillingConfig
    from glm_tune.pretrain import PretrainConfig, pretrain
    from glm_tune.trainer import TrainerOptions

    values = {k: v for k, v in vars(namespace).items() if k != "config" and not k.startswith("__")}
    sections = {}
    for name, kind in (("infilling", InfillingConfig), ("trainer", TrainerOptions)):
        names = {f.name for f in dataclasses.fields(kind)}
        sections[name] = kind(**{k: values.pop(k) for k in list(values) if k in names})
    print(f"model: {pretrain(PretrainConfig(**values, **sections))}")


def train_tokenizer(
    corpus: list[str],
    output_dir: str,
    vocab_size: int = 16000,
    model_type: Literal["unigram", "bpe"] = "unigram",
    character_coverage: float = 0.9995,
    min_chars: int = 10,
    seed: int = 1234,
    threads: int = 1,
) -> None:
    """Train a SentencePiece tokenizer with GLM's command tokens on raw text.

    The directory it writes (tokenizer.model, tokenizer_config.json, added_tokens.json) is what
    `glm-tune pretrain --tokenizer DIR` builds a new model for: N text pieces, then
    <|endoftext|>, [SEP], [CLS], [MASK], 2 unused, <|startofpiece|>, <|endofpiece|>, [sMASK], [gMASK].

    Args:
        corpus: corpus files or directories (.txt, .jsonl, .json, .tsv); training text only.
        output_dir: where the tokenizer files are written.
        vocab_size: text pieces (a small corpus may give fewer).
        model_type: unigram (as GLM's Chinese tokenizer) or bpe.
        character_coverage: share of characters the pieces cover; the rest become <unk>
            (0.9995 suits Chinese, 1.0 small alphabets).
        min_chars: documents shorter than this are left out.
        seed: seeds SentencePiece's sampling of lines.
        threads: training threads (1 is deterministic).
    """
    from glm_tune.corpus import read_documents
    from glm_tune.tokenizer_training import train_tokenizer as train

    documents = list(read_documents(corpus, min_chars=min_chars))
    tokenizer = train(documents, output_dir, vocab_size=vocab_size, model_type=model_type,
                      character_coverage=character_coverage, seed=seed, num_threads=threads)
    print(f"{output_dir}: {len(tokenizer)} ids (text pieces, then 10 command tokens; a model needs "
          f"{tokenizer.padded_vocab_size} embedding rows) "
          f"from {len(documents)} documents")


def _suite(namespace) -> None:
    import yaml

    from glm_tune.suite import run_suite

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
             "models": _function_command(models), "tasks": _function_command(tasks), "fill": _function_command(fill),
             "suite": _suite, "pretrain": _pretrain, "train-tokenizer": _function_command(train_tokenizer)}

_SUBPARSERS = {"fit": _fit_parser, "validate": _evaluate_parser("validate"), "test": _evaluate_parser("test"),
               "predict": _predict_parser, "suite": _suite_parser, "pretrain": _pretrain_parser,
               "train-tokenizer": _function_parser(train_tokenizer), "models": _function_parser(models),
               "tasks": _function_parser(tasks), "fill": _function_parser(fill)}


def _switches(command: str | None) -> set[str]:
    """The command's bool options, read off its option dataclasses or function, so a new one is
    a switch too (types are strings under ``from __future__ import annotations``)."""
    if command in ("fit", "validate", "test", "predict"):
        from glm_tune.run import FitConfig

        kinds = (FitConfig, *_sections().values())
    elif command == "pretrain":
        from glm_tune.infilling import InfillingConfig
        from glm_tune.pretrain import PretrainConfig
        from glm_tune.trainer import TrainerOptions

        kinds = (PretrainConfig, InfillingConfig, TrainerOptions)
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
    """The command line that continues an interrupted ``glm-tune fit ARGS``: ARGS with --resume,
    without --overwrite (which would start afresh)."""
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
        if error.resumable and command == "fit":
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
