"""The backbone against the Hugging Face port's golden outputs, and its own guarantees."""

from __future__ import annotations

import pytest
import torch

from glm_tune.model import GLMConfig, GLMModel, build_attention_mask

TOL = 1e-4  # fp32 parity with the reference, never loosened


@pytest.fixture(scope="module")
def golden(golden_dir):
    from safetensors.torch import load_file

    return load_file(str(golden_dir / "cases.safetensors"))


def assert_matches(logits, hidden, golden, prefix, rows=None):
    probe = golden["meta.probe_ids"]
    pick = (lambda t: t) if rows is None else rows
    if hidden is not None:
        torch.testing.assert_close(pick(hidden), pick(golden[f"{prefix}.hidden"]), atol=TOL, rtol=0)
    torch.testing.assert_close(pick(logits[..., probe]), pick(golden[f"{prefix}.logits_probe"]), atol=TOL, rtol=0)
    torch.testing.assert_close(pick(logits.logsumexp(-1)), pick(golden[f"{prefix}.logsumexp"]), atol=TOL, rtol=0)
    assert torch.equal(pick(logits.argmax(-1)), pick(golden[f"{prefix}.argmax"]))


@torch.no_grad()
def test_sep_per_example(model, golden):
    out = model(golden["sep.input_ids"], position_ids=golden["sep.position_ids"], attention_mask=golden["sep.sep"])
    assert_matches(out.logits, out.last_hidden_states, golden, "sep")


@torch.no_grad()
def test_scalar_sep_and_4d_mask_equal_batch_sep(model, golden):
    ids, pos = golden["sep.input_ids"], golden["sep.position_ids"]
    sep = int(golden["sep.sep"][1])
    scalar = model(ids, position_ids=pos, attention_mask=torch.tensor(sep)).logits
    batch = model(ids, position_ids=pos, attention_mask=torch.full((ids.shape[0],), sep)).logits
    length = ids.shape[1]
    full = torch.tril(torch.ones(length, length))
    full[:, :sep] = 1
    four_d = model(ids, position_ids=pos, attention_mask=full.expand(ids.shape[0], 1, -1, -1)).logits
    torch.testing.assert_close(scalar, batch, atol=0, rtol=0)
    torch.testing.assert_close(four_d, batch, atol=1e-6, rtol=0)


@torch.no_grad()
def test_full_4d_mask_with_padding(model, golden):
    out = model(
        golden["mask4d.input_ids"],
        position_ids=golden["mask4d.position_ids"],
        attention_mask=golden["mask4d.attention_mask"],
    )
    for i, length in enumerate(golden["mask4d.lengths"].tolist()):
        # Rows past `length` are padding: the reference leaves them meaningless.
        def rows(t, i=i, length=length):
            return t[i, :length]

        assert_matches(out.logits, out.last_hidden_states, golden, "mask4d", rows=rows)
        assert torch.isfinite(out.logits[i]).all()


@torch.no_grad()
def test_key_value_cache_matches_reference_mems(model, golden):
    ids, pos = golden["mems.input_ids"], golden["mems.position_ids"]
    context = int(golden["mems.context_length"])
    out = model(ids[:, :context], position_ids=pos[..., :context], attention_mask=context, use_cache=True)
    cache, steps = out.past_key_values, []
    for t in range(context, ids.shape[1]):
        out = model(ids[:, t : t + 1], position_ids=pos[..., t : t + 1], past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        steps.append(out.logits)
    assert_matches(torch.cat(steps, dim=1), None, golden, "mems")
    assert cache[0][0].shape[2] == ids.shape[1]


@torch.no_grad()
def test_cached_decoding_equals_full_forward(model, golden):
    ids, pos = golden["mems.input_ids"], golden["mems.position_ids"]
    context = int(golden["mems.context_length"])
    full = model(ids, position_ids=pos, attention_mask=context).logits
    out = model(ids[:, :context], position_ids=pos[..., :context], attention_mask=context, use_cache=True)
    # Several tokens at once on top of the cache: causal among themselves.
    rest = model(ids[:, context:], position_ids=pos[..., context:], attention_mask=0, past_key_values=out.past_key_values)
    torch.testing.assert_close(rest.logits, full[:, context:], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.logits, full[:, :context], atol=1e-5, rtol=0)


@torch.no_grad()
def test_packed_choice_scores(model, golden):
    out = model(
        golden["choice.input_ids"],
        position_ids=golden["choice.position_ids"],
        attention_mask=golden["choice.attention_mask"],
    )
    log_probs = out.logits.log_softmax(-1)[0]
    scores = torch.stack(
        [log_probs[golden[f"choice.choice_indices_{j}"], golden[f"choice.choice_ids_{j}"]].sum() for j in range(3)]
    )
    torch.testing.assert_close(scores, golden["choice.scores"][0], atol=TOL, rtol=0)


@torch.no_grad()
def test_loss(model, golden):
    out = model(
        golden["loss.input_ids"],
        position_ids=golden["loss.position_ids"],
        attention_mask=golden["loss.sep"],
        labels=golden["loss.labels"],
    )
    torch.testing.assert_close(out.loss.reshape(1), golden["loss.loss"], atol=TOL, rtol=0)


@torch.no_grad()
def test_target_loss_given_its_positions_is_the_golden_loss(model, golden):
    # the one target-token loss that finetuning and pretraining call, with targets found on the CPU
    hidden = model(golden["loss.input_ids"], position_ids=golden["loss.position_ids"],
                   attention_mask=golden["loss.sep"], compute_logits=False).last_hidden_states
    labels = golden["loss.labels"]
    targets = (labels != -100).nonzero(as_tuple=True)
    torch.testing.assert_close(model.target_loss(hidden, labels, targets).reshape(1), golden["loss.loss"],
                               atol=TOL, rtol=0)
    assert model.target_loss(hidden, labels, targets, label_smoothing=0.1) != model.target_loss(hidden, labels)


@torch.no_grad()
def test_bf16_forward_within_documented_tolerance(model, golden):
    # Documented in the README: bf16 logits stay within 0.05 (absolute) of fp32 on the golden
    # model, where logits are O(1); bf16 keeps 8 bits of mantissa, so ~0.4% relative per op.
    ids, pos, sep = golden["sep.input_ids"], golden["sep.position_ids"], golden["sep.sep"]
    fp32 = model(ids, position_ids=pos, attention_mask=sep).logits
    bf16_model = GLMModel(model.config).to(torch.bfloat16)
    bf16_model.load_state_dict(model.state_dict())
    bf16 = bf16_model.eval()(ids, position_ids=pos, attention_mask=sep).logits
    assert bf16.dtype == torch.bfloat16
    assert (bf16.float() - fp32).abs().max() < 0.05


def test_gradient_checkpointing_gives_same_gradients(golden_dir, golden):
    def grads(checkpointing):
        torch.manual_seed(0)
        model = GLMModel.from_pretrained(str(golden_dir), checkpoint_activations=checkpointing).train()
        out = model(
            golden["loss.input_ids"],
            position_ids=golden["loss.position_ids"],
            attention_mask=golden["loss.sep"],
            labels=golden["loss.labels"],
        )
        out.loss.backward()
        return {n: p.grad for n, p in model.named_parameters()}

    plain, recomputed = grads(False), grads(True)
    for name, grad in plain.items():
        torch.testing.assert_close(recomputed[name], grad, atol=1e-6, rtol=1e-5)


def test_gradient_checkpointing_with_frozen_embeddings(golden_dir, golden):
    # The case that breaks reentrant checkpointing: no input of a block requires grad.
    model = GLMModel.from_pretrained(str(golden_dir), checkpoint_activations=True).train()
    model.word_embeddings.requires_grad_(False)
    model.transformer.position_embeddings.requires_grad_(False)
    model.transformer.block_position_embeddings.requires_grad_(False)
    out = model(golden["loss.input_ids"], position_ids=golden["loss.position_ids"], labels=golden["loss.labels"])
    out.loss.backward()
    assert model.transformer.layers[0].attention.query_key_value.weight.grad.abs().sum() > 0


@torch.no_grad()
def test_tanh_activation_switch(golden_dir, golden):
    erf = GLMModel.from_pretrained(str(golden_dir))
    tanh = GLMModel.from_pretrained(str(golden_dir), activation="gelu_tanh")
    ids = golden["sep.input_ids"]
    a, b = erf(ids).last_hidden_states, tanh(ids).last_hidden_states
    assert not torch.equal(a, b)
    assert (a - b).abs().max() < 1e-2


def test_default_positions_and_mask_are_causal(model):
    ids = torch.tensor([[5, 6, 7, 8]])
    out = model(ids).logits
    prefix = model(ids[:, :2]).logits
    torch.testing.assert_close(out[:, :2], prefix, atol=1e-6, rtol=0)


def test_position_out_of_range_is_a_clear_error(model):
    too_long = torch.zeros(1, model.config.max_sequence_length + 2, dtype=torch.long)
    with pytest.raises(ValueError, match="max_sequence_length"):
        model(too_long)


def test_mask_shape_error():
    with pytest.raises(ValueError, match="attention_mask"):
        build_attention_mask(torch.ones(2, 3, 4), 2, 4, 0, torch.device("cpu"))


def test_config_round_trip_keeps_unknown_fields_and_aliases():
    config = GLMConfig.from_dict({"num_hidden_layers": 3, "hidden_size": 8, "num_attention_heads": 2, "foo": 1})
    assert config.num_layers == 3
    assert config.to_dict()["foo"] == 1
    with pytest.raises(ValueError, match="divisible"):
        GLMConfig(hidden_size=10, num_attention_heads=4)


def test_parameter_count_formula_matches_module():
    config = GLMConfig(vocab_size=256, hidden_size=16, num_layers=3, num_attention_heads=2, max_sequence_length=32)
    assert sum(p.numel() for p in GLMModel(config).parameters()) == config.num_parameters()


def test_an_out_of_range_position_is_a_clear_error():
    model = GLMModel(GLMConfig(vocab_size=64, hidden_size=16, num_layers=1, num_attention_heads=2,
                               max_sequence_length=8)).eval()
    positions = torch.zeros(1, 2, 3, dtype=torch.long)
    positions[0, 1, 2] = 9  # a block position past the table of 9 rows
    with pytest.raises(ValueError, match="position id 9 exceeds the model's maximum"):
        model(torch.ones(1, 3, dtype=torch.long), position_ids=positions)
    with pytest.raises(ValueError, match="position id 9 exceeds"):
        model(torch.ones(1, 10, dtype=torch.long))  # too long for the default arange positions
    model(torch.ones(1, 9, dtype=torch.long))  # the longest that fits
