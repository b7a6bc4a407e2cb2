"""How glm-tiny was pretrained (the recipe behind glm_tune/models/glm-tiny; see its MODEL_CARD).

    python experiments/glm-tiny/pretrain.py CORPUS_DIR TOKENIZER_DIR OUTPUT_DIR --seconds 420

CORPUS_DIR holds the training-only raw text of ../shared/data (glm_tune.pretraining.corpus.default_corpus_files:
SST-2 train sentences, FewGLUE and FewCLUE unlabeled files); TOKENIZER_DIR the SentencePiece
tokenizer trained on the same text (glm_tune.pretraining.tokenizer_training.train_tokenizer, 16000 pieces).
A short timing run first measures steps per second on this machine, so that the real run's
learning-rate schedule ends (decays to 0) within --seconds instead of being cut off mid-way.
"""

import argparse
import json
import time
from pathlib import Path

import lightning.pytorch as pl

from glm_tune.pretraining.infilling import InfillingConfig
from glm_tune.pretraining.pretrain import PretrainConfig, pretrain
from glm_tune.training.trainer import TrainerOptions


def config(corpus: str, tokenizer: str, output: str, steps: int, args) -> PretrainConfig:
    return PretrainConfig(
        corpus=[corpus], tokenizer=tokenizer, output_dir=output,
        hidden_size=256, num_layers=4, num_attention_heads=4, max_sequence_length=512,
        dropout=0.1, batch_size=args.batch_size, learning_rate=args.learning_rate, weight_decay=0.01,
        warmup_ratio=0.02, seed=1234, num_workers=args.workers, validation_fraction=0.01,
        save_dtype="float16", resume=False,
        infilling=InfillingConfig(seq_length=256, mixture=(0.6, 0.2, 0.2)),
        trainer=TrainerOptions(max_epochs=None, max_steps=steps, precision=args.precision,
                               log_every_n_steps=50,
                               progress_bar=False, gradient_clip_val=1.0),
    )


class StepTimer(pl.Callback):
    def __init__(self, skip: int = 20) -> None:
        self.skip, self.start, self.steps = skip, None, 0

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.skip:
            self.start = time.perf_counter()
        self.steps = trainer.global_step

    def rate(self) -> float:
        return (self.steps - self.skip) / (time.perf_counter() - self.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus")
    parser.add_argument("tokenizer")
    parser.add_argument("output")
    parser.add_argument("--seconds", type=float, default=420)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    timer = StepTimer()
    began = time.perf_counter()
    pretrain(config(args.corpus, args.tokenizer, str(Path(args.output) / "timing"), 200, args), callbacks=[timer])
    rate = timer.rate()
    # The timing run's setup (tokenizing, packing) repeats in the real run.
    setup = time.perf_counter() - began - 200 / rate
    steps = int(rate * (args.seconds - setup) * 0.92)
    print(json.dumps({"steps_per_second": rate, "setup_seconds": setup, "steps": steps}), flush=True)
    pretrain(config(args.corpus, args.tokenizer, str(Path(args.output) / "final"), steps, args))


if __name__ == "__main__":
    main()
