"""Step 2, run in glm-tune's venv: load FlagAI's layouts written by flagai_side.py and compare logits.

    python experiments/flagai-parity/compare.py OUT_DIR

Prints, per layout, the max |logit difference| to FlagAI's own forward with the activation glm-tune
chooses for the layout (tanh) beside the baseline of the erf GELU (what glm-tune loaded before).
"""

import sys
from pathlib import Path

import torch

from glm_tune.model import GLMModel


def main(out: Path) -> None:
    torch.set_num_threads(1)
    reference = torch.load(out / "flagai_logits.pt", weights_only=True)
    print(f"FlagAI state-dict keys: {len(reference['keys'])}, e.g. {reference['keys'][0]}, {reference['keys'][-1]}")
    rows = [("layout", "origin", "activation", "max |diff| vs FlagAI", "with erf GELU (baseline)")]
    for layout in ("flagai-hub", "flagai-trainer"):
        model = GLMModel.from_pretrained(str(out / layout))
        erf = GLMModel.from_pretrained(str(out / layout), activation="gelu")
        with torch.no_grad():
            diffs = [
                (m(reference["input_ids"], position_ids=reference["position_ids"], attention_mask=reference["sep"]).logits
                 - reference["logits"]).abs().max().item()
                for m in (model, erf)
            ]
        rows.append((layout, model.config.origin, model.config.activation, f"{diffs[0]:.2e}", f"{diffs[1]:.2e}"))
    for row in rows:
        print(" | ".join(row))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
