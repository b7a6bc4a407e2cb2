"""DDP on CPU (gloo, 2 processes) trains exactly like one process with the same global batch."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file


def _fit(shared, out, devices, batch_size, strategy):
    command = [
        sys.executable, "-m", "glm_tune.cli", "fit", "--task", "sst2",
        "--model", str(shared / "golden" / "glm-ref-zh"), "--tokenizer", str(shared / "tokenizers" / "glm-chinese"),
        "--data-dir", str(shared / "data" / "sst2"), "--train-limit", "64", "--eval-limit", "32",
        "--batch-size", str(batch_size), "--max-epochs", "2", "--learning-rate", "1e-3", "--dropout", "0",
        "--accelerator", "cpu", "--devices", str(devices), "--strategy", strategy, "--progress-bar", "false",
        "--output-dir", str(out),
    ]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())["metrics"], load_file(str(out / "model" / "model.safetensors"))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_ddp_two_processes_equals_one_process_with_the_same_global_batch(shared, tmp_path):
    single_metrics, single = _fit(shared, tmp_path / "single", 1, 8, "auto")
    ddp_metrics, ddp = _fit(shared, tmp_path / "ddp", 2, 4, "ddp")
    assert ddp_metrics == single_metrics
    hidden = single["glm.word_embeddings.weight"].shape[1]
    for key in single:
        a, b = ddp[key], single[key]
        if key.endswith("query_key_value.bias"):
            # The key bias adds the same amount to every score of a query, which softmax
            # ignores: its true gradient is 0, so what it gets is rounding noise that differs
            # with the order of the all-reduce, and Adam turns any noise into lr-sized steps.
            # Bound it by lr x steps; the query and value biases must match like the rest.
            key_part = slice(hidden, 2 * hidden)
            assert (a[key_part] - b[key_part]).abs().max() <= 1e-3 * 16
            a, b = torch.cat((a[:hidden], a[2 * hidden:])), torch.cat((b[:hidden], b[2 * hidden:]))
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)
