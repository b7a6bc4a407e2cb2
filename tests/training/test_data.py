"""ClozeBatchSampler and ClozeDataModule: sharding, resume skipping, length grouping, encoding."""

import random

import pytest

from glm_tune.task.readers import DataError
from glm_tune.task.registry import get_task
from glm_tune.training.data import ClozeBatchSampler, ClozeDataModule, DataOptions


def _lengths(n=103, seed=0):
    rng = random.Random(seed)
    return [rng.randint(5, 200) for _ in range(n)]


def test_two_processes_see_exactly_the_rows_of_one_process_per_step():
    lengths = _lengths(96)
    single = list(ClozeBatchSampler(lengths, 8, shuffle=True, seed=3))
    ranks = [list(ClozeBatchSampler(lengths, 4, shuffle=True, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for sampler in [ClozeBatchSampler(_lengths(n), b, shuffle=shuffle, rank=r, world_size=w)
                    for n in (96, 103, 5) for b in (4, 8) for shuffle in (True, False)
                    for w in (1, 2, 3) for r in range(w)]:
        assert len(sampler) == len(list(sampler))
    for step, batch in enumerate(single):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)


def test_every_row_once_per_epoch_and_a_new_order_each_epoch():
    lengths = _lengths()
    sampler = ClozeBatchSampler(lengths, 8, shuffle=True, seed=3)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(len(lengths)))
    assert list(sampler) == first  # a function of (seed, epoch)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_skip_batches_resumes_inside_an_epoch_once():
    sampler = ClozeBatchSampler(_lengths(), 8, shuffle=True, seed=3)
    full = list(sampler)
    sampler.skip_batches = 5
    assert list(sampler) == full[5:]
    assert list(sampler) == full


def test_grouping_by_length_cuts_padding():
    lengths = _lengths(4000)

    def padding(group):
        batches = ClozeBatchSampler(lengths, 16, shuffle=True, group_by_length=group, seed=1)
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(True) < 0.2 * padding(False)


def test_evaluation_order_is_the_file_order_sharded_without_duplicates():
    lengths = _lengths(11)
    ranks = [list(ClozeBatchSampler(lengths, 2, shuffle=False, rank=r, world_size=2)) for r in range(2)]
    seen = [i for r in ranks for b in r for i in b]
    assert sorted(seen) == list(range(11))


def test_encoded_rows_keep_labels_and_blank(shared, zh):
    options = DataOptions(data_dir=str(shared / "data" / "fewclue" / "eprstmt"), train_split="train_0")
    data = ClozeDataModule(get_task("eprstmt"), zh, options)
    split = data.split("train_0")
    assert len(split.examples) == len(split.rows) == 32
    for example, row in zip(split.examples, split.rows):
        assert example.context[example.mask_position] == zh.mask_token_id
        assert data.labels.labels[example.label] == row["label"]


def test_train_limit_draws_a_seeded_sample(shared, zh):
    def rows(seed):
        options = DataOptions(data_dir=str(shared / "data" / "sst2"), train_limit=16)
        return ClozeDataModule(get_task("sst2"), zh, options, seed=seed).split("train").rows

    assert rows(1) == rows(1) and rows(1) != rows(2) and len(rows(1)) == 16


def test_prediction_file_must_exist(zh, tmp_path):
    data = ClozeDataModule(get_task("sst2"), zh, DataOptions(), predict_file=tmp_path / "none.jsonl")
    with pytest.raises(DataError, match="none.jsonl not found"):
        data.split("predict")
