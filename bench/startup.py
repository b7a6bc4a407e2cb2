"""CLI start-up: `glm-tune --help`, `models` and `tasks` against a bare `python -c "import torch"`.

Each command runs as a fresh process (the way a user starts it), alternating with the
baseline so that both see the same machine load; the median of N runs of each is reported
as a ratio to the baseline's median. The target is at most 1.5x.

    python bench/startup.py            # 7 runs of each
    python bench/startup.py --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BASELINE = [sys.executable, "-c", "import torch"]
COMMANDS = {
    "glm-tune --help": ["--help"],
    "glm-tune models": ["models"],
    "glm-tune tasks": ["tasks"],
}


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "glm_tune.cli"]
    seconds(BASELINE)  # warm the file cache for both
    seconds(cli + ["--help"])
    base, times = [], {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, extra in COMMANDS.items():
            base.append(seconds(BASELINE))
            times[name].append(seconds(cli + extra))
    reference = statistics.median(base)
    print(f"baseline `python -c \"import torch\"`: median {reference:.2f} s over {len(base)} runs")
    print(f"{'command':<18} {'median s':>8} {'ratio':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<18} {median:8.2f} {median / reference:6.2f}")


if __name__ == "__main__":
    main()
