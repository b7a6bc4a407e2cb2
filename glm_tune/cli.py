"""The ``glm-tune`` command: a thin layer that parses arguments and calls the Python API.

Each subcommand is a plain function whose signature and docstring become its options and
``--help`` text (jsonargparse), so everything the CLI does can be called from Python too.
"""

from __future__ import annotations

import sys
from typing import Literal

from glm_tune.checkpoint import MODELS


def models() -> None:
    """List the GLM checkpoints glm-tune knows by name, with sizes and tokenizers.

    Any local directory in the hub layout (config.json + weights) or a hub id owner/name can be
    passed wherever a model is asked for.
    """
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
        raise ValueError("--model is required: a known name (glm-tune models), a hub id or a directory")
    config = GenerationConfig(
        strategy=strategy, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, num_beams=num_beams,
        length_penalty=length_penalty, no_repeat_ngram_size=no_repeat_ngram_size, temperature=temperature,
        top_k=top_k, top_p=top_p, seed=seed,
    )
    glm, tok = load_model_and_tokenizer(model, tokenizer, device=device)
    texts = [text] if text is not None else [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ValueError("no text given and nothing on standard input")
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


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import CLI

    from glm_tune.checkpoint import CheckpointError

    argv = list(sys.argv[1:] if argv is None else argv)
    # `glm-tune fill "text"`: jsonargparse has no optional positionals, so the text is passed on
    # as --text.
    if len(argv) > 1 and argv[0] == "fill" and not argv[1].startswith("-"):
        argv.insert(1, "--text")
    try:
        CLI({"models": models, "tasks": tasks, "fill": fill}, args=argv, as_positional=False)
    except (CheckpointError, ValueError) as error:
        print(f"glm-tune: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
