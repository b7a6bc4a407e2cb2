"""Step 1, run in a side venv with FlagAI 1.8.4 (never imported by glm-tune or its tests).

Builds FlagAI's own GLMModel with random weights (a small config), writes it in FlagAI's layouts
(hub: config.json + pytorch_model.bin holding {"module": ...}; trainer: flagai.utils.save_checkpoint)
and FlagAI's logits on fixed inputs, for compare.py to check glm-tune against.

    python3 -m venv /work/flagai-venv && . /work/flagai-venv/bin/activate
    pip install torch==2.13.0 numpy packaging requests tqdm && pip install flagai==1.8.4 --no-deps
    ENV_TYPE=pytorch python experiments/flagai-parity/flagai_side.py OUT_DIR
"""

import json
import os
import sys
from pathlib import Path

import torch
from flagai.model.glm_model import GLMModel
from flagai.utils import save_checkpoint

CONFIG = {
    "num_layers": 3, "vocab_size": 50048, "hidden_size": 64, "num_attention_heads": 4,
    "embedding_dropout_prob": 0.0, "attention_dropout_prob": 0.0, "output_dropout_prob": 0.0,
    "max_sequence_length": 128, "max_memory_length": 0, "checkpoint_activations": False,
    "checkpoint_num_layers": 1, "parallel_output": True, "relative_encoding": False,
    "block_position_encoding": True, "output_predict": True, "spell_length": None, "spell_func": "lstm",
    "attention_scale": 1.0,
}


def main(out: Path) -> None:
    torch.manual_seed(0)
    model = GLMModel(CONFIG).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # FlagAI's init leaves LayerNorms at 1/0; spread everything
            parameter.add_(torch.randn_like(parameter) * 0.05)
    hub = out / "flagai-hub"
    hub.mkdir(parents=True, exist_ok=True)
    (hub / "config.json").write_text(json.dumps(CONFIG))
    torch.save({"module": model.state_dict()}, hub / "pytorch_model.bin")
    save_checkpoint(7, 5, model, None, None, save_dir=str(out / "flagai-trainer"), save_optim=False, save_rng=False,
                    iteration_in_epoch=3)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50000, (2, 12), generator=generator)
    ids[:, 0], ids[:, 5] = 50002, 50003
    positions = torch.stack([torch.arange(12).repeat(2, 1), torch.zeros(2, 12, dtype=torch.long)], dim=1)
    positions[:, 0, 9:], positions[:, 1, 9:] = 5, torch.arange(1, 4)
    sep = torch.tensor([9, 9])
    with torch.no_grad():
        logits = model(input_ids=ids, position_ids=positions, attention_mask=sep)["logits"]
    torch.save({"input_ids": ids, "position_ids": positions, "sep": sep, "logits": logits,
                "keys": sorted(model.state_dict())}, out / "flagai_logits.pt")
    print(f"wrote {out}: {len(model.state_dict())} tensors, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    os.environ.setdefault("ENV_TYPE", "pytorch")
    main(Path(sys.argv[1]))
