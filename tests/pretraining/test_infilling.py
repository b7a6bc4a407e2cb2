"""The blank-infilling objective: layout, 2-D positions, mask, coverage and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glm_tune.constants import IGNORE_INDEX
from glm_tune.model import GLMConfig, GLMModel
from glm_tune.pretraining.infilling import (
    GMASK,
    MASK,
    SMASK,
    EpochSampler,
    InfillingConfig,
    InfillingDataset,
    InfillingIds,
    collate,
    make_sample,
    pack_documents,
    sentences,
)

# A made-up vocabulary: text ids 0..99 (5 and 6 end sentences), command ids from 100 on.
IDS = InfillingIds(cls=102, eos=100, pad=100, mask=103, smask=108, gmask=109, sop=106, eop=107,
                   sentence_end=np.asarray([5, 6]))
BLANKS = {IDS.mask, IDS.smask, IDS.gmask}


def text(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random text ids with a sentence end about every 8 tokens and a document break or two."""
    tokens = rng.integers(7, 100, size=n)
    tokens[rng.random(n) < 0.12] = 5
    tokens[rng.random(n) < 0.02] = IDS.eos
    return tokens


def spans_of(sample: dict) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Part A, and Part B as (blank position, fed tokens) per span, read back from a sample."""
    sep = int(sample["sep"])
    ids, positions = sample["input_ids"], sample["position_ids"]
    real = int((sample["labels"] != IGNORE_INDEX).sum())
    spans: list[tuple[int, list[int]]] = []
    for j in range(sep, sep + real):
        if ids[j] == IDS.sop:
            spans.append((int(positions[0, j]), []))
        spans[-1][1].append(int(ids[j]))
    return ids[:sep], [(p, np.asarray(fed)) for p, fed in spans]


def reconstruct(sample: dict) -> np.ndarray:
    part_a, spans = spans_of(sample)
    by_position = {p: fed[1:] for p, fed in spans}
    out: list[int] = []
    for position, token in enumerate(part_a[1:], 1):
        out.extend(by_position[position].tolist() if token in BLANKS else [int(token)])
    return np.asarray(out)


@pytest.mark.parametrize("objective", [MASK, SMASK, GMASK])
def test_parts_reconstruct_the_text(objective):
    weights = [0.0, 0.0, 0.0]
    weights[objective] = 1.0
    config = InfillingConfig(seq_length=96, mixture=tuple(weights))
    rng = np.random.default_rng(0)
    for seed in range(50):
        tokens = text(rng, config.chunk_length)
        sample = make_sample(tokens, config, IDS, np.random.default_rng(seed))
        assert int(sample["objective"]) == objective
        assert np.array_equal(reconstruct(sample), tokens)
        sep = int(sample["sep"])
        part_a, spans = spans_of(sample)
        assert part_a[0] == IDS.cls
        assert sample["input_ids"].shape == (96,) and sample["position_ids"].shape == (2, 96)
        # Part A: positions 0..sep-1, block 0; each span sits at its own blank, blocks 1..n+1.
        assert np.array_equal(sample["position_ids"][0, :sep], np.arange(sep))
        assert not sample["position_ids"][1, :sep].any()
        blank = (IDS.mask, IDS.smask, IDS.gmask)[objective]
        assert sorted(p for p, _ in spans) == np.flatnonzero(part_a == blank).tolist()
        j = sep
        for position, fed in spans:
            block = sample["position_ids"][:, j: j + len(fed)]
            assert (block[0] == position).all()
            assert np.array_equal(block[1], np.arange(1, len(fed) + 1))
            # Each fed token predicts the next; the last predicts <|endofpiece|>.
            assert np.array_equal(sample["labels"][j: j + len(fed)], np.append(fed[1:], IDS.eop))
            j += len(fed)
        assert (sample["labels"][:sep] == IGNORE_INDEX).all() and (sample["labels"][j:] == IGNORE_INDEX).all()
        assert (sample["input_ids"][j:] == IDS.pad).all()


def test_spans_follow_text_order_without_shuffling():
    config = InfillingConfig(seq_length=96, mixture=(1, 0, 0), shuffle_spans=False)
    sample = make_sample(text(np.random.default_rng(1), config.chunk_length), config, IDS, np.random.default_rng(2))
    positions = [p for p, _ in spans_of(sample)[1]]
    assert len(positions) > 1 and positions == sorted(positions)


def test_coverage_is_near_the_config():
    config = InfillingConfig(seq_length=256)
    n = config.chunk_length
    rng = np.random.default_rng(0)
    covered: dict[int, list[float]] = {MASK: [], SMASK: [], GMASK: []}
    for seed in range(600):
        sample = make_sample(text(rng, n), config, IDS, np.random.default_rng(seed))
        span_tokens = sum(len(fed) - 1 for _, fed in spans_of(sample)[1])
        covered[int(sample["objective"])].append(span_tokens / n)
    counts = {k: len(v) for k, v in covered.items()}
    assert abs(counts[MASK] / 600 - 0.5) < 0.07 and abs(counts[GMASK] / 600 - 0.25) < 0.07
    assert abs(np.mean(covered[MASK]) - 0.15) < 0.01
    assert 0.12 < np.mean(covered[SMASK]) < 0.23
    assert min(covered[GMASK]) >= 0.5 - 1 / n and max(covered[GMASK]) <= 1.0
    assert abs(np.mean(covered[GMASK]) - 0.75) < 0.04
    # Every sample fits: [CLS] + text + a blank and a <|startofpiece|> per span.
    assert 1 + n + 2 * config.span_budget == config.seq_length


def test_smask_spans_are_whole_sentences():
    config = InfillingConfig(seq_length=128, mixture=(0, 1, 0))
    rng = np.random.default_rng(3)
    seen = 0
    for seed in range(100):
        tokens = text(rng, config.chunk_length)
        sample = make_sample(tokens, config, IDS, np.random.default_rng(seed))
        if int(sample["objective"]) != SMASK:
            continue
        whole = set(sentences(tokens, IDS))
        part_a, spans = spans_of(sample)
        # Map each blank back to its [start, end) in the original text.
        offset = 0
        by_position = dict(spans)
        for position, token in enumerate(part_a[1:], 1):
            if token == IDS.smask:
                length = len(by_position[position]) - 1
                assert (offset, offset + length) in whole
                assert tokens[offset + length - 1] in (5, 6) or tokens[offset + length] == IDS.eos
                assert offset > 0 and (tokens[offset - 1] in (5, 6, IDS.eos))
                offset += length
                seen += 1
            else:
                offset += 1
    assert seen > 100


def test_chunks_without_whole_sentences_fall_back_to_mask():
    config = InfillingConfig(seq_length=96, mixture=(0, 1, 0))
    sample = make_sample(np.full(config.chunk_length, 9), config, IDS, np.random.default_rng(0))
    assert int(sample["objective"]) == MASK and IDS.mask in sample["input_ids"]


@pytest.fixture
def one_thread():
    """Many tiny forward passes run fastest on one thread (two contend on 2-core machines)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_loss_equals_token_by_token_predictions(one_thread):
    torch.manual_seed(0)
    model = GLMModel(GLMConfig(vocab_size=128, hidden_size=32, num_layers=2, num_attention_heads=4,
                               max_sequence_length=64)).eval()
    config = InfillingConfig(seq_length=64, mask_ratio=0.3, max_spans=6)
    batch = collate([make_sample(text(np.random.default_rng(i), config.chunk_length), config, IDS,
                                 np.random.default_rng(i)) for i in range(3)])
    with torch.no_grad():
        loss = model(batch["input_ids"], batch["position_ids"], attention_mask=batch["sep"],
                     labels=batch["labels"]).loss
        step_losses = []
        for row in range(3):
            sep = int(batch["sep"][row])
            for j in torch.nonzero(batch["labels"][row] != IGNORE_INDEX).flatten().tolist():
                # Only what precedes j in Part B (and all of Part A) is fed.
                logits = model(batch["input_ids"][row: row + 1, : j + 1],
                               batch["position_ids"][row: row + 1, :, : j + 1],
                               attention_mask=torch.tensor([sep])).logits[0, -1]
                step_losses.append(F.cross_entropy(logits, batch["labels"][row, j]))
    assert torch.allclose(loss, torch.stack(step_losses).mean(), atol=1e-5)
    # Part A is bidirectional: its first token's state depends on its last.
    changed = batch["input_ids"].clone()
    changed[0, int(batch["sep"][0]) - 1] = 42
    with torch.no_grad():
        a = model(batch["input_ids"][:1], batch["position_ids"][:1], attention_mask=batch["sep"][:1]).logits
        b = model(changed[:1], batch["position_ids"][:1], attention_mask=batch["sep"][:1]).logits
    assert not torch.allclose(a[0, 0], b[0, 0])


def test_pack_documents():
    chunks = pack_documents([[1, 2, 3], [4, 5], [6, 7, 8, 9]], 4, eos_id=0)
    assert chunks.tolist() == [[1, 2, 3, 0], [4, 5, 0, 6], [7, 8, 9, 0]]
    assert pack_documents([[1, 2, 3, 4, 5]], 4, eos_id=0).tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError, match="fewer than one chunk"):
        pack_documents([[1]], 4, eos_id=0)


def test_dataset_is_deterministic_per_seed_epoch_index():
    config = InfillingConfig(seq_length=64)
    chunks = np.stack([text(np.random.default_rng(i), config.chunk_length) for i in range(8)])
    data = InfillingDataset(chunks, config, IDS, seed=5)
    again = InfillingDataset(chunks.copy(), config, IDS, seed=5)
    assert all(np.array_equal(data[(1, 3)][k], again[(1, 3)][k]) for k in data[(1, 3)])
    assert not np.array_equal(data[(1, 3)]["input_ids"], data[(2, 3)]["input_ids"])
    assert np.array_equal(data[3]["input_ids"], data[(0, 3)]["input_ids"])

    sampler = EpochSampler(data, seed=5)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert {e for e, _ in first} == {0} and {e for e, _ in second} == {1}
    assert sorted(i for _, i in first) == list(range(8)) and [i for _, i in first] != [i for _, i in second]
    ranks = [list(EpochSampler(data, seed=5, num_replicas=3, rank=r)) for r in range(3)]
    assert [len(r) for r in ranks] == [2, 2, 2] and len({k for r in ranks for k in r}) == 6

    batch = collate([data[k] for k in first[:4]])
    assert batch["input_ids"].shape == (4, 64) and batch["position_ids"].shape == (4, 2, 64)
    assert batch["sep"].shape == (4,) and batch["labels"].dtype == torch.int64


def test_config_errors():
    with pytest.raises(ValueError, match="mask_ratio"):
        InfillingConfig(mask_ratio=0)
    with pytest.raises(ValueError, match="leaves only"):
        InfillingConfig(seq_length=16, max_spans=6)
    config = InfillingConfig(seq_length=64)
    with pytest.raises(ValueError, match="chunk_length"):
        make_sample(np.zeros(config.chunk_length + 1, dtype=np.int64), config, IDS, np.random.default_rng(0))
