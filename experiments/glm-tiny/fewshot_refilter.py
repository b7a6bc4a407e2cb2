"""One-off repair of the eprstmt few-shot records made before commit "a test row is dropped when
its fields and label are a run's own train/dev row, whatever its id".

Those runs compared whole rows, ids included; dev_few_all numbers its ids from 0, so for folds
1-4 the fold's own 32 dev rows (used to choose the learning rate and epoch) and any repeated
training rows stayed in the test set. The models' scores of every row are in the records: this
drops the positions of those rows, as `glm-tune fewshot` now chooses them, so the report can be
rewritten from the records (`experiments/glm-tiny/fewshot.sh` again: finished runs are skipped).

    python experiments/glm-tiny/fewshot_refilter.py runs/fewshot/eprstmt ../shared/data/fewclue/eprstmt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from glm_tune.fewshot.protocol import row_key
from glm_tune.task.registry import resolve_task


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def old_key(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if not k.startswith("_")}, sort_keys=True, ensure_ascii=False)


def main(out: Path, data: Path) -> None:
    task = resolve_task("eprstmt")
    test = read(data / "dev_few_all.json")
    for record_path in sorted((out / "runs").glob("*.json")):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("refiltered"):
            continue
        k = record["fold"].removeprefix("fold")
        own = read(data / f"train_{k}.json") + read(data / f"dev_{k}.json")
        old_seen, new_seen = {old_key(r) for r in own}, {row_key(r, task) for r in own}
        old = [i for i, r in enumerate(test) if old_key(r) not in old_seen]
        keep = [pos for pos, i in enumerate(old) if row_key(test[i], task) not in new_seen]
        assert len(old) == record.get("test_rows", len(old)) == len(record["golds"]), record_path
        record["golds"] = [record["golds"][p] for p in keep]
        for which in ("zero_shot", "few_shot"):
            if which in record:
                record[which]["log_probs"] = [record[which]["log_probs"][p] for p in keep]
        record["test_rows"] = len(keep)
        record["refiltered"] = True
        record_path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        print(f"{record_path.name}: {len(old)} -> {len(keep)} test rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
