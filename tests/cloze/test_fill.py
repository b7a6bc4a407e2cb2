"""Text-level filling and choice scoring, end to end with the real tokenizer and the golden model."""

from __future__ import annotations

import io

import pytest

from glm_tune.cli import main
from glm_tune.cloze.fill import fill_text, score_choices
from glm_tune.cloze.generation import GenerationConfig
from glm_tune.loading import load_model_and_tokenizer


@pytest.fixture(scope="module")
def loaded(golden_dir, tokenizers_dir):
    return load_model_and_tokenizer(str(golden_dir), str(tokenizers_dir / "glm-chinese"))


@pytest.fixture(scope="module")
def cases(end_to_end):
    return end_to_end[0]


def test_golden_greedy_and_beam_through_text(loaded, cases):
    model, tokenizer = loaded
    for case in cases:
        greedy = fill_text(model, tokenizer, case["text"], GenerationConfig(max_new_tokens=case["max_new_tokens"]))
        assert greedy.span_ids == [case["greedy_new_ids"]]
        beam = fill_text(model, tokenizer, case["text"],
                         GenerationConfig(strategy="beam", num_beams=4, max_new_tokens=case["max_new_tokens"]))
        assert beam.span_ids == [case["beam4_new_ids"]]
        assert not greedy.appended_gmask


def test_golden_choice_scores_through_text(loaded, cases):
    model, tokenizer = loaded
    for case in cases:
        scores = score_choices(model, tokenizer, case["text"], case["choices"], include_eop=False)
        assert scores == pytest.approx(case["choice_scores"], abs=1e-4)


def test_choice_scores_with_eop_are_lower_and_rank_by_full_span(loaded, cases):
    model, tokenizer = loaded
    case = cases[0]
    without = score_choices(model, tokenizer, case["text"], case["choices"], include_eop=False)
    with_eop = score_choices(model, tokenizer, case["text"], case["choices"])
    assert all(w < o for w, o in zip(with_eop, without))


def test_filled_text_keeps_the_input_around_the_blank(loaded):
    model, tokenizer = loaded
    text = "北京故宫是中国[MASK]非物质文化遗产。"
    result = fill_text(model, tokenizer, text, GenerationConfig(max_new_tokens=3))
    assert result.text == "北京故宫是中国" + result.spans[0] + "非物质文化遗产。"
    assert result.spans[0] == tokenizer.decode(result.span_ids[0])


def test_text_without_blank_gets_gmask(loaded):
    model, tokenizer = loaded
    result = fill_text(model, tokenizer, "今天天气很好", GenerationConfig(max_new_tokens=2))
    assert result.appended_gmask and result.text.startswith("今天天气很好")


def test_bad_texts(loaded):
    model, tokenizer = loaded
    with pytest.raises(ValueError, match="empty"):
        fill_text(model, tokenizer, "  ")
    with pytest.raises(ValueError, match="positions up to 128"):
        fill_text(model, tokenizer, "长" * 300 + "[MASK]")
    with pytest.raises(ValueError, match="exactly one blank"):
        score_choices(model, tokenizer, "[MASK] 和 [MASK]", ["a"])
    with pytest.raises(ValueError, match="<unk>"):
        score_choices(model, tokenizer, "是[MASK]", ["😀"])


def test_cli_fill_text_choices_and_stdin(golden_dir, tokenizers_dir, capsys, monkeypatch):
    common = ["--model", str(golden_dir), "--tokenizer", str(tokenizers_dir / "glm-chinese")]
    main(["fill", "北京故宫是中国[MASK]非物质文化遗产。", *common, "--max_new_tokens", "2"])
    assert capsys.readouterr().out.strip().startswith("北京故宫是中国")
    main(["fill", "凯旋门为纪念[MASK]而建。", *common, "--choices", "拿破仑,中国"])
    out = capsys.readouterr().out
    assert "拿破仑" in out and "log-prob" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("第一[MASK]\n\n今天天气\n"))
    main(["fill", *common, "--max_new_tokens", "2"])
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 2
    assert "appended [gMASK]" in captured.err


def test_cli_errors_are_clear(golden_dir, tokenizers_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fill", "", "--model", str(golden_dir), "--tokenizer", str(tokenizers_dir / "glm-chinese")])
    assert exit_info.value.code == 2
    assert "empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fill", "x[MASK]", "--model", "glm-lage-ch"])
    assert "Did you mean" in capsys.readouterr().err


@pytest.fixture
def fed_contexts(monkeypatch):
    """The context ids fill_text hands to generation, recorded."""
    import glm_tune.cloze.fill as fill_module

    seen = []
    real = fill_module.fill_blanks_in_turn

    def spy(model, context, *args, **kwargs):
        seen.append(list(context))
        return real(model, context, *args, **kwargs)

    monkeypatch.setattr(fill_module, "fill_blanks_in_turn", spy)
    return seen


@pytest.fixture(scope="module")
def thudm_model(golden_dir, tmp_path_factory):
    """The golden weights in THUDM's layout (bare keys in a training dict, no config.json)."""
    import torch

    from glm_tune.model import GLMModel

    folder = tmp_path_factory.mktemp("thudm")
    state = torch.load(golden_dir / "pytorch_model.bin", weights_only=True)
    torch.save({"iteration": 1, "module": {k.removeprefix("glm."): v for k, v in state.items()}},
               folder / "mp_rank_00_model_states.pt")
    return GLMModel.from_pretrained(str(folder), config=str(golden_dir / "config.json"))


def test_trailing_blank_follows_the_origin(loaded, thudm_model, fed_contexts):
    hub, tokenizer = loaded
    text = "问题:啤酒伤胃吗?回答:[gMASK]"
    options = GenerationConfig(max_new_tokens=3)
    encoded = tokenizer.encode(text)
    assert encoded[-1] == tokenizer.eos_token_id
    fill_text(hub, tokenizer, text, options)  # the Hugging Face port's tokenizer: eos after the blank
    fill_text(thudm_model, tokenizer, text, options)  # GLM's generate_samples.py: none
    fill_text(thudm_model, tokenizer, text, options, eos_after_blank=True)
    fill_text(hub, tokenizer, text, options, eos_after_blank=False)
    assert fed_contexts == [encoded, encoded[:-1], encoded, encoded[:-1]]
    assert encoded[:-1][-1] == tokenizer.gmask_token_id  # [CLS] 问题:…回答:[gMASK], then <|startofpiece|>


def test_text_not_ending_with_a_blank_keeps_its_eos(loaded, thudm_model, fed_contexts):
    _, tokenizer = loaded
    fill_text(thudm_model, tokenizer, "北京[MASK]是中国的首都。", GenerationConfig(max_new_tokens=2))
    fill_text(thudm_model, tokenizer, "北京是中国的首都", GenerationConfig(max_new_tokens=2))  # [gMASK] appended
    assert fed_contexts[0][-1] == tokenizer.eos_token_id
    assert fed_contexts[1][-1] == tokenizer.gmask_token_id


def test_cli_eos_after_blank_option(golden_dir, tokenizers_dir, fed_contexts, capsys):
    common = ["--model", str(golden_dir), "--tokenizer", str(tokenizers_dir / "glm-chinese"), "--max-new-tokens", "2"]
    main(["fill", "回答:[MASK]", *common, "--eos-after-blank", "false"])
    main(["fill", "回答:[MASK]", *common])
    assert fed_contexts[0] == fed_contexts[1][:-1]


def test_flagai_checkpoints_add_no_eos_after_a_blank(golden_dir, tokenizers_dir, tmp_path, fed_contexts):
    # FlagAI's predictor (predict_generate_*) adds <|endoftext|> only when the text does not end in [gMASK].
    import shutil

    import torch

    shutil.copy(golden_dir / "config.json", tmp_path / "config.json")
    state = torch.load(golden_dir / "pytorch_model.bin", weights_only=True)
    torch.save({"module": {"model." + k.removeprefix("glm."): v for k, v in state.items()}},
               tmp_path / "pytorch_model.bin")
    model, tokenizer = load_model_and_tokenizer(str(tmp_path), str(tokenizers_dir / "glm-chinese"))
    assert model.config.origin == "flagai"
    fill_text(model, tokenizer, "问题:啤酒伤胃吗?回答:[gMASK]", GenerationConfig(max_new_tokens=2))
    assert fed_contexts[0][-1] == tokenizer.gmask_token_id

def test_every_blank_of_a_text_is_filled():
    """glm-tiny ends later blanks at once or after a lone space piece; no blank may come out empty."""
    model, tokenizer = load_model_and_tokenizer("glm-tiny")
    result = fill_text(model, tokenizer, "The [MASK] sat on the [MASK] and ate a [MASK].")
    assert len(result.spans) == 3 and all(span.strip() for span in result.spans)
    assert "[MASK]" not in result.text and result.text.startswith("The ")
