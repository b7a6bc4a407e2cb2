"""The commands that are plain functions (`glm-tune models`, `tasks`, `fill`, `convert`,
`train-tokenizer`): each signature and docstring is the command's options and ``--help`` text
(jsonargparse), so each can be called from Python as it is. Heavy modules are imported inside
each function, so listing commands stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

from glm_tune.errors import OptionError
from glm_tune.table import format_table

if TYPE_CHECKING:
    from glm_tune.cloze.generation import GenerationConfig


def models() -> None:
    """List the GLM checkpoints glm-tune knows by name, with sizes and tokenizers.

    Any local directory in the hub layout (config.json + weights) or a hub id owner/name can be
    passed wherever a model is asked for.
    """
    from glm_tune.checkpoint import MODELS
    from glm_tune.model import GLMConfig

    rows = [("name", "aliases", "hub id", "params", "layers", "hidden", "max len", "tokenizer")]
    for spec in MODELS:
        c = GLMConfig.from_dict(spec.config)
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
    print("\nactivation: hub-layout checkpoints (these names) load with exact erf GELU, as the Hugging Face port "
          "computes it;\nTHUDM, FlagAI and PaddleNLP checkpoints load with tanh GELU, as their code trained them "
          "(--activation overrides).")


def tasks() -> None:
    """List every task glm-tune knows, with its kind, language, metrics and data files.

    A task of your own is a Task in a Python file, passed as --task path/to/file.py:NAME.
    """
    from glm_tune.task.registry import all_tasks

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
    generation: GenerationConfig | None = None,
    choice_length_penalty: float = 0.0,
    include_eop: bool = True,
    device: str = "cpu",
    model_config: str | None = None,
    activation: Literal["gelu", "gelu_tanh"] | None = None,
    eos_after_blank: bool | None = None,
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
        generation: how to decode each blank (default: glm_tune.cloze.fill.FILL_DEFAULTS, greedy with a
            repetition penalty and no repeated trigram, against the loops small models fall into).
        choice_length_penalty: with --choices, divide each score by its token count ** this
            (0: plain sum, GLM's default; 1: mean log-prob, as GLM uses for WSC).
        include_eop: with --choices, score the final <|endofpiece|> too (GLM's exact multi-token
            scorer); --include_eop false gives the Hugging Face port's multiple-choice scores.
        device: cpu, cuda, cuda:1, ...
        model_config: config of a checkpoint that carries none (THUDM's): a config.json or a
            known model name (default: the released model whose shapes the weights have).
        activation: gelu or gelu_tanh (default: what the config records, else by origin: erf
            for the hub layout, tanh for THUDM, FlagAI and PaddleNLP checkpoints).
        eos_after_blank: end a text that ends with a blank with <|endoftext|> (default: false for
            THUDM and FlagAI checkpoints, as their generation scripts do; true for the hub layout,
            as the Hugging Face port's tokenizer does).
    """
    from glm_tune.cloze.fill import FILL_DEFAULTS, fill_text, score_choices
    from glm_tune.loading import load_model_and_tokenizer

    if not model:
        raise OptionError("--model is required: a known name (glm-tune models), a hub id or a directory")
    glm, tok = load_model_and_tokenizer(model, tokenizer, device=device, model_config=model_config,
                                        activation=activation)
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
        result = fill_text(glm, tok, line, generation or FILL_DEFAULTS, eos_after_blank=eos_after_blank)
        if result.appended_gmask:
            print("note: the text has no blank; appended [gMASK] to continue it", file=sys.stderr)
        if result.unknown_tokens:
            print(f"warning: {result.unknown_tokens} piece(s) of the text are unknown to the tokenizer (<unk>)",
                  file=sys.stderr)
        print(result.text)


_TOKENIZER_FILES = ("tokenizer_config.json", "added_tokens.json", "special_tokens_map.json", "tokenizer.model",
                    "cog-pretrain.model", "cog-pretrain.vocab", "spiece.model", "vocab.txt", "vocab.json", "merges.txt")


def convert(
    src: str,
    dst: str,
    model_config: str | None = None,
    activation: Literal["gelu", "gelu_tanh"] | None = None,
) -> None:
    """Write a checkpoint of any layout (THUDM, model-parallel shards, FlagAI, PaddleNLP) in the hub layout.

    `glm-tune convert ckpts/blocklm-large-chinese out/glm-large-ch` writes config.json (recording the
    activation and the origin) and model.safetensors, plus the tokenizer files found beside the weights.

    Args:
        src: the checkpoint: a directory, a weight file, a known model name or a hub id (positional).
        dst: the directory to write (positional).
        model_config: config of a checkpoint that carries none: a config.json or a known model name
            (default: the released model whose shapes the weights have).
        activation: gelu or gelu_tanh (default: what the config records, else by origin).
    """
    import shutil
    from pathlib import Path

    from glm_tune.checkpoint import resolve
    from glm_tune.model import GLMModel

    source = resolve(src)
    model = GLMModel.from_pretrained(str(source), config=model_config, activation=activation)
    model.save_pretrained(dst)
    folder = source if source.is_dir() else source.parent
    copied = [name for name in _TOKENIZER_FILES if (folder / name).is_file()]
    for name in copied:
        shutil.copy(folder / name, Path(dst) / name)
    c = model.config
    print(f"{dst}: {c.num_layers} layers, hidden {c.hidden_size}, origin {c.origin}, activation {c.activation}"
          + (f"; tokenizer files: {', '.join(copied)}" if copied else "; no tokenizer files beside the weights"))


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
    from glm_tune.pretraining.corpus import read_documents
    from glm_tune.pretraining.tokenizer_training import train_tokenizer as train

    documents = list(read_documents(corpus, min_chars=min_chars))
    tokenizer = train(documents, output_dir, vocab_size=vocab_size, model_type=model_type,
                      character_coverage=character_coverage, seed=seed, num_threads=threads)
    print(f"{output_dir}: {len(tokenizer)} ids (text pieces, then 10 command tokens; a model needs "
          f"{tokenizer.padded_vocab_size} embedding rows) "
          f"from {len(documents)} documents")
