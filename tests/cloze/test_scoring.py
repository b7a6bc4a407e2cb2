"""Candidate scoring: golden packed scores, packing equals separate sequences, the fast path."""

from __future__ import annotations

import pytest
import torch

from glm_tune.cloze.scoring import pack_candidates, score_candidates, single_token_scores

SOP, EOP, PAD = 50006, 50007, 50000


def test_golden_packed_choice_scores(model, golden_dir):
    from safetensors.torch import load_file

    golden = load_file(str(golden_dir / "cases.safetensors"))
    start = int(golden["choice.choice_indices_0"][0])  # the first candidate's sop column
    context = golden["choice.input_ids"][0, :start].tolist()
    mask_pos = int(golden["choice.position_ids"][0, 0, start])
    candidates = [golden[f"choice.choice_ids_{j}"].tolist() for j in range(3)]
    packed = pack_candidates([context], [mask_pos], [candidates], sop_id=int(golden["choice.input_ids"][0, start]))
    # The layout is the reference's, token for token.
    assert torch.equal(packed.input_ids, golden["choice.input_ids"])
    assert torch.equal(packed.position_ids, golden["choice.position_ids"])
    assert torch.equal(packed.attention_mask.float(), golden["choice.attention_mask"])
    with torch.no_grad():
        scores = score_candidates(model, [context], [mask_pos], [candidates], sop_id=int(packed.input_ids[0, start]))
    torch.testing.assert_close(scores[0], golden["choice.scores"][0], atol=1e-4, rtol=0)


def separate(model, context, mask_pos, candidate, eop, length_penalty):
    """One candidate in its own sequence, the way GLM's original scorer lays it out."""
    target = candidate + ([eop] if eop is not None else [])
    ids = context + [SOP] + target[:-1]
    positions = list(range(len(context))) + [mask_pos] * len(target)
    blocks = [0] * len(context) + list(range(1, len(target) + 1))
    out = model(torch.tensor([ids]), position_ids=torch.tensor([[positions, blocks]]), attention_mask=len(context))
    log_probs = out.logits[0, len(context):].log_softmax(-1)
    total = log_probs.gather(-1, torch.tensor(target)[:, None]).sum()
    return total / len(target) ** length_penalty


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("eop,length_penalty", [(None, 0.0), (EOP, 0.0), (EOP, 1.0)])
@torch.no_grad()
def test_packed_equals_one_sequence_per_candidate(model, k, eop, length_penalty):
    gen = torch.Generator().manual_seed(k)
    contexts = [[50002, *torch.randint(0, 50000, (n,), generator=gen).tolist(), 50003, 50000] for n in (5, 11)]
    masks = [len(c) - 2 for c in contexts]
    candidates = [
        [torch.randint(0, 50000, (int(torch.randint(1, 5, (1,), generator=gen)),), generator=gen).tolist() for _ in range(k)]
        for _ in contexts
    ]
    packed = score_candidates(
        model, contexts, masks, candidates, sop_id=SOP, eop_id=eop, pad_id=PAD, length_penalty=length_penalty
    )
    for b in range(len(contexts)):
        expected = torch.stack([separate(model, contexts[b], masks[b], c, eop, length_penalty) for c in candidates[b]])
        torch.testing.assert_close(packed[b], expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_single_token_fast_path_equals_exact_scores(model):
    contexts = [[50002, 11, 12, 50003, 13, 50000], [50002, 21, 50003, 50000]]
    masks = [3, 2]
    labels = [4251, 43824, 1404]
    fast = single_token_scores(model, contexts, masks, labels, sop_id=SOP, pad_id=PAD)
    exact = score_candidates(model, contexts, masks, [[[w] for w in labels]] * 2, sop_id=SOP, pad_id=PAD)
    torch.testing.assert_close(fast, torch.stack(exact), atol=1e-5, rtol=0)


def test_scores_carry_gradients(model):
    scores = score_candidates(model, [[50002, 5, 50003, 50000]], [2], [[[7, 8], [9]]], sop_id=SOP, eop_id=EOP)
    torch.nn.functional.cross_entropy(scores[0][None], torch.tensor([0])).backward()
    assert model.word_embeddings.weight.grad is not None
    model.zero_grad(set_to_none=True)


def test_bad_candidates_are_reported():
    with pytest.raises(ValueError, match="example 0, candidate 1 is empty"):
        pack_candidates([[1, 2]], [1], [[[3], []]], sop_id=SOP)
    with pytest.raises(ValueError, match="example 0 has no candidates"):
        pack_candidates([[1, 2]], [1], [[]], sop_id=SOP)
