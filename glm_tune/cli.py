"""The ``glm-tune`` command: a thin layer that parses arguments and calls the Python API.

Each subcommand is a plain function whose signature and docstring become its options and
``--help`` text (jsonargparse), so everything the CLI does can be called from Python too.
"""

from __future__ import annotations

import sys

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


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import CLI

    from glm_tune.checkpoint import CheckpointError

    try:
        CLI({"models": models}, args=argv, as_positional=False)
    except CheckpointError as error:
        print(f"glm-tune: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
