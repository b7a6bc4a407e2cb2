"""Decoding options: the repetition penalty against a hand computation on the golden model,
task defaults with user overrides, and the options reaching fit/validate/test/predict and suites."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from glm_tune.cli import _fit_config, _normalise, build_parser
from glm_tune.cloze.decoding import RENAMED, DecodingOptions
from glm_tune.cloze.generation import GenerationConfig, _step, apply_repetition_penalty, encode_context, generate_spans
from glm_tune.task.registry import get_task
from glm_tune.training.run import load_fit_config

SOP, EOP, PAD = 50006, 50007, 50000


@pytest.fixture(scope="module")
def contexts(end_to_end):
    _, contexts, masks = end_to_end
    return contexts, masks


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [1.0, 1.0, -2.0, 0.0]])
    out = apply_repetition_penalty(logits, [[0, 1, 0], [2]], 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0], [1.0, 1.0, -4.0, 0.0]]
    assert apply_repetition_penalty(logits, [[0], [1]], 1.0) is logits  # off: untouched
    assert logits[0, 0] == 2.0  # the input is not modified


@torch.no_grad()
def test_greedy_with_repetition_penalty_matches_the_hand_penalised_logits(model, contexts):
    """Step by step, the generated token is the argmax of the model's logits with every token
    generated so far penalised by hand (logit / p if positive, logit * p otherwise)."""
    contexts, masks = contexts
    penalty, steps = 3.0, 6
    spans = generate_spans(model, contexts, masks, sop_id=SOP, eop_id=EOP, pad_id=PAD,
                           config=GenerationConfig(max_new_tokens=steps, repetition_penalty=penalty))
    plain = generate_spans(model, contexts, masks, sop_id=SOP, eop_id=EOP, pad_id=PAD,
                           config=GenerationConfig(max_new_tokens=steps))
    changed = 0
    for context, mask, span, unpenalised in zip(contexts, masks, spans, plain):
        state = encode_context(model, [context], PAD)
        state.mask_pos = torch.tensor([mask])
        fed, expected = SOP, []
        for _ in range(steps):
            logits = _step(model, state, torch.tensor([fed]))[0].clone()
            for token in set(expected):
                value = logits[token].item()
                logits[token] = value / penalty if value > 0 else value * penalty
            fed = int(logits.argmax())
            if fed == EOP:
                break
            expected.append(fed)
        assert span == expected
        changed += span != unpenalised
    assert changed  # the penalty decided at least one case


def test_beam_search_with_repetition_penalty_repeats_less(model, contexts):
    contexts, masks = contexts

    def repeats(config):
        spans = generate_spans(model, contexts, masks, sop_id=SOP, eop_id=EOP, pad_id=PAD, config=config)
        return sum(len(s) - len(set(s)) for s in spans)

    assert repeats(GenerationConfig(strategy="beam", max_new_tokens=12, repetition_penalty=5.0)) < repeats(
        GenerationConfig(strategy="beam", max_new_tokens=12))


def test_bad_repetition_penalty():
    with pytest.raises(ValueError, match="repetition_penalty"):
        GenerationConfig(repetition_penalty=0.0)


def test_options_mirror_generation_config():
    names = {RENAMED.get(f.name, f.name) for f in dataclasses.fields(DecodingOptions)} - {"rouge_postprocess"}
    # banned_ids comes from the tokenizer and seed is the run's --seed.
    assert names == {f.name for f in dataclasses.fields(GenerationConfig)} - {"banned_ids", "seed"}


def test_task_defaults_stay_unless_an_option_is_set():
    task = get_task("lcsts")
    assert DecodingOptions().apply(task.generation) == task.generation
    config = DecodingOptions(decoding_strategy="greedy", beam_length_penalty=0.5, repetition_penalty=1.3,
                             max_new_tokens=20).apply(task.generation, seed=7)
    expected = dataclasses.replace(task.generation, strategy="greedy", length_penalty=0.5, repetition_penalty=1.3,
                                   max_new_tokens=20, seed=7)
    assert config == expected
    assert config.num_beams == task.generation.num_beams and config.no_repeat_ngram_size == 3  # kept


def test_cli_and_suite_yaml_flatten_the_decoding_options(tmp_path):
    parser = build_parser()
    argv = ["--task", "lcsts", "--decoding_strategy", "sample", "--top_p", "0.9", "--top_k", "5",
            "--temperature", "0.7", "--repetition_penalty", "1.2", "--num_beams", "3", "--beam_length_penalty", "0.6",
            "--min_new_tokens", "2", "--max_new_tokens", "9", "--no_repeat_ngram_size", "2",
            "--rouge_postprocess", "true"]
    expected = DecodingOptions(decoding_strategy="sample", top_p=0.9, top_k=5, temperature=0.7, repetition_penalty=1.2,
                               num_beams=3, beam_length_penalty=0.6, min_new_tokens=2, max_new_tokens=9,
                               no_repeat_ngram_size=2, rouge_postprocess=True)
    for command, extra in (("fit", []), ("validate", []), ("test", []), ("predict", ["--input", "x.jsonl"])):
        namespace = parser.parse_args([command, *argv, *extra])[command]
        for name in ("checkpoint", "input", "output"):
            namespace.pop(name, None)
        assert _fit_config(namespace).decoding == expected, command
    yaml = tmp_path / "run.yaml"
    yaml.write_text("task: lcsts\ndecoding_strategy: greedy\nrepetition_penalty: 1.5\n")
    assert load_fit_config(yaml).decoding == DecodingOptions(decoding_strategy="greedy", repetition_penalty=1.5)
    assert load_fit_config(yaml, {"no_repeat_ngram_size": 4}).decoding.no_repeat_ngram_size == 4


def _repeated_trigrams(ids: list[int]) -> int:
    trigrams = list(zip(ids, ids[1:], ids[2:]))
    return len(trigrams) - len(set(trigrams))


def test_fill_defaults_stop_glm_tiny_repeating_itself():
    import inspect

    from glm_tune.cli import fill
    from glm_tune.cloze.fill import FILL_DEFAULTS, fill_text
    from glm_tune.loading import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("glm-tiny")
    text = "北京故宫是中国[MASK]非物质文化遗产。"
    plain = fill_text(model, tokenizer, text, GenerationConfig())
    assert _repeated_trigrams(plain.span_ids[0]) > 3 and plain.spans[0].count("故宫") > 10
    kept = fill_text(model, tokenizer, text)
    assert _repeated_trigrams(kept.span_ids[0]) == 0 and kept.spans[0].count("故宫") < 3
    # the command line's decoding defaults are FILL_DEFAULTS' (fill takes a GenerationConfig)
    assert inspect.signature(fill).parameters["generation"].default is None
    namespace = build_parser({"fill"}).parse_args(_normalise(["fill", text, "--model", "glm-tiny"])).fill
    assert (namespace.repetition_penalty, namespace.no_repeat_ngram_size) == (
        FILL_DEFAULTS.repetition_penalty, FILL_DEFAULTS.no_repeat_ngram_size)


def test_rouge_postprocess_only_for_rouge_tasks():
    from glm_tune.training.run import FitConfig, _build

    config = FitConfig(task="cmrc2018", model="glm-tiny", decoding=DecodingOptions(rouge_postprocess=True))
    with pytest.raises(ValueError, match="--rouge_postprocess cleans summaries before ROUGE; task cmrc2018"):
        _build(config, get_task("cmrc2018"))
