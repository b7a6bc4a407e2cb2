"""Rows -> label scores through template, verbalizer and scorer."""

from __future__ import annotations

import pytest
import torch

from glm_tune.cloze.labels import encode_rows, label_scores
from glm_tune.cloze.scoring import score_candidates, single_token_scores
from glm_tune.cloze.template import Template
from glm_tune.cloze.verbalizer import Verbalizer

ROWS = [{"sentence": "这部电影很好看"}, {"sentence": "剧情拖沓，演员表演生硬，不推荐"}, {"sentence": "一般"}]
TEMPLATE = Template("{sentence}。总之很[MASK]。")


@torch.no_grad()
def test_single_token_path(model, zh):
    labels = Verbalizer({"pos": ["对"], "neg": ["错"]}).tokenize(zh)
    assert labels.single_token
    scores = label_scores(model, zh, TEMPLATE, labels, ROWS, batch_size=2)
    encoded = encode_rows(TEMPLATE, zh, ROWS, 128)
    expected = single_token_scores(model, [e.input_ids for e in encoded], [e.mask_position for e in encoded],
                                   labels.single_token_ids, sop_id=zh.sop_token_id, pad_id=zh.pad_token_id)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_multi_token_words_are_scored_exactly_and_combined(model, zh):
    labels = Verbalizer({"a": ["拿破仑", "中国"], "b": ["谢邀"]}).tokenize(zh)
    assert not labels.single_token
    with pytest.warns(UserWarning, match="exact multi-token path"):
        scores = label_scores(model, zh, TEMPLATE, labels, ROWS, batch_size=2)
    assert scores.shape == (3, 2)
    for i, encoded in enumerate(encode_rows(TEMPLATE, zh, ROWS, 128)):
        words = score_candidates(model, [encoded.input_ids], [encoded.mask_position], [labels.candidates],
                                 sop_id=zh.sop_token_id, eop_id=zh.eop_token_id, pad_id=zh.pad_token_id)[0]
        torch.testing.assert_close(scores[i, 0], torch.logsumexp(words[:2], 0), atol=1e-5, rtol=0)
        torch.testing.assert_close(scores[i, 1], words[2], atol=1e-5, rtol=0)
    best = label_scores(model, zh, TEMPLATE, labels, ROWS, combine="max", prefer_single_token=False)
    assert (best <= scores + 1e-6).all()


@torch.no_grad()
def test_the_module_and_fill_score_through_the_same_scorer(model, zh, golden_dir):
    # the Lightning module's label scores and fill's choice scores are the Python API's, row for row
    from glm_tune.cloze.fill import score_choices
    from glm_tune.task.registry import get_task
    from glm_tune.training.module import ClozeModule, TrainingOptions

    labels = Verbalizer({"a": ["拿破仑", "中国"], "b": ["谢邀"]}).tokenize(zh)
    with pytest.warns(UserWarning, match="exact multi-token path"):
        module = ClozeModule(model, zh, get_task("eprstmt"), TrainingOptions(length_penalty=1.0), labels=labels)
    module.eval()  # the module puts the model in training mode (dropout)
    encoded = encode_rows(TEMPLATE, zh, ROWS, 128)
    batch = {"contexts": [e.input_ids for e in encoded], "mask_positions": [e.mask_position for e in encoded]}
    expected = label_scores(model, zh, TEMPLATE, labels, ROWS, length_penalty=1.0, prefer_single_token=False)
    torch.testing.assert_close(module.label_scores(batch), expected, atol=1e-6, rtol=0)
    text = ROWS[0]["sentence"] + "。总之很[MASK]。"
    choices = score_choices(model, zh, text, ["拿破仑", "中国", "谢邀"], length_penalty=1.0)
    words = module.scorer.candidate_scores(batch["contexts"][:1], batch["mask_positions"][:1], [labels.candidates])[0]
    torch.testing.assert_close(torch.tensor(choices), words, atol=1e-5, rtol=0)
