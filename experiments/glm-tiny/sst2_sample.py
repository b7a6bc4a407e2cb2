"""Write glm_tune/samples/sst2: the SST-2 rows glm-tune ships so the README's main command
trains offline, out of the box.

    python experiments/glm-tiny/sst2_sample.py [--shared ../shared] [--rows 14000]

Training rows are drawn at random (seeded) from GLUE's train.tsv and kept in the file's order;
dev.tsv is copied whole, so the sample's dev accuracy is the usual SST-2 dev accuracy. Lines are
copied byte for byte: the files keep GLUE's format (header ``sentence<TAB>label``).
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "glm_tune" / "samples" / "sst2"
MAX_BYTES = 1_000_000
"""The issue allows at most 1 MB of shipped data."""

README = """# SST-2 sample

What `glm-tune fit --task sst2` reads when no `--data-dir` is given and the Hugging Face hub
cannot be reached (`HF_HUB_OFFLINE=1`, or no network).

- `train.tsv`: {train:,} of the {total:,} rows of GLUE SST-2's `train.tsv`, drawn at random with
  seed {seed} and kept in the file's order.
- `dev.tsv`: GLUE SST-2's whole `dev.tsv` ({dev:,} rows).

Both are GLUE's original files' lines, unchanged (header `sentence<TAB>label`, label 0 negative,
1 positive). Written by `experiments/glm-tiny/sst2_sample.py`. The full training set: run online
(the hub's `nyu-mll/glue` `sst2`), or pass `--data-dir` with GLUE's `SST-2/train.tsv` and
`dev.tsv`. SST-2 (Socher et al., 2013) as distributed by GLUE (Wang et al., 2018).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--rows", type=int, default=14_000)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    source = args.shared / "data" / "sst2"
    header, *rows = (source / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    assert header == "sentence\tlabel\n", header
    keep = sorted(random.Random(args.seed).sample(range(len(rows)), args.rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "train.tsv").write_text(header + "".join(rows[i] for i in keep), encoding="utf-8")
    shutil.copyfile(source / "dev.tsv", OUT / "dev.tsv")
    dev = len((source / "dev.tsv").read_text(encoding="utf-8").splitlines()) - 1
    (OUT / "README.md").write_text(README.format(train=args.rows, total=len(rows), seed=args.seed, dev=dev),
                                   encoding="utf-8")
    size = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT}: {args.rows} train rows, {dev} dev rows, {size:,} bytes")
    if size > MAX_BYTES:
        raise SystemExit(f"the sample is {size:,} bytes, over the {MAX_BYTES:,} allowed")


if __name__ == "__main__":
    main()
