"""GLM tokenizers: the golden Chinese ids and input builders, the English command ids, loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from glm_tune.cloze.inputs import build_inputs_for_generation, build_inputs_for_multiple_choice
from glm_tune.errors import MissingFileError
from glm_tune.tokenizer import GLMTokenizer, load_tokenizer

ENGLISH = "The movie was great, and the actors were good."


@pytest.fixture(scope="module")
def golden(tokenizer_golden) -> dict:
    return tokenizer_golden


@pytest.fixture(scope="module")
def roberta(tokenizers_dir: Path) -> GLMTokenizer:
    return load_tokenizer(tokenizers_dir / "glm-roberta", kind="roberta")


def nested(values: list) -> list:
    """Tensors (possibly in lists) as plain lists, to compare with the golden JSON."""
    return values.tolist() if isinstance(values, torch.Tensor) else [nested(v) for v in values]


# --- the golden Chinese tokenizer ------------------------------------------------------------


def test_special_token_ids(zh, golden):
    expected = golden["special_token_ids"]
    assert {token: zh.convert_tokens_to_ids(token) for token in expected} == expected
    assert zh.convert_ids_to_tokens(list(golden["special_token_ids"].values())) == list(golden["special_token_ids"])
    roles = ("cls", "eos", "pad", "sep", "mask", "smask", "gmask", "sop", "eop", "unk")
    attrs = {role: getattr(zh, f"{role}_token_id") for role in roles}
    assert attrs == {
        "cls": 50002, "eos": 50000, "pad": 50000, "sep": 50001, "mask": 50003,
        "smask": 50008, "gmask": 50009, "sop": 50006, "eop": 50007, "unk": 0,
    }  # fmt: skip
    assert zh.mask_token_ids == {50003, 50008, 50009}
    assert zh.kind == "chinese-sp" and zh.vocab_size == len(zh) == 50010 and zh.padded_vocab_size == 50048
    # No [UNK] command at 50010 (transformers' accident): the id is padding, the string plain text.
    assert "[UNK]" not in zh.command_tokens
    with pytest.raises(ValueError, match="embedding rows from 50010 to 50047 are padding"):
        zh.decode([50010])


def test_encode_cases(zh, golden):
    for case in golden["encode"]:
        ids = zh.encode(case["text"])
        assert ids == case["input_ids"], case["text"]
        assert zh.convert_ids_to_tokens(ids) == case["tokens"], case["text"]
        assert zh.decode(ids, skip_special_tokens=True) == case["decode_without_special"], case["text"]
        assert zh.tokenize(case["text"]) == case["tokens"][1:-1]
        assert zh.encode(case["text"], add_special_tokens=False) == case["input_ids"][1:-1]


def test_decode_keeps_command_tokens_and_reencodes(zh):
    ids = zh.encode("北京故宫是中国[MASK]非物质文化遗产。")
    assert zh.decode(ids) == "[CLS]北京故宫是中国[MASK]非物质文化遗产。<|endoftext|>"
    assert zh.encode(zh.decode(ids), add_special_tokens=False) == ids
    assert zh.decode(torch.tensor(ids)) == zh.decode(ids)


def test_generation_inputs(zh, golden):
    case = golden["generation_inputs"]
    out = build_inputs_for_generation(zh, [zh.encode(case["text"])], case["max_gen_length"])
    assert set(out) == {"input_ids", "position_ids", "generation_attention_mask"}
    for key in out:
        assert out[key].tolist() == case[key], key


def test_training_inputs(zh, golden):
    case = golden["training_inputs"]
    out = build_inputs_for_generation(zh, zh.encode(case["text"]), case["max_gen_length"], targets=case["target"])
    assert set(out) == {"input_ids", "position_ids", "labels", "attention_mask"}
    for key in out:
        assert out[key].tolist() == case[key], key


def test_choice_inputs(zh, golden):
    case = golden["choice_inputs"]
    out = build_inputs_for_multiple_choice(zh, [zh.encode(case["text"])], [case["choices"]])
    assert set(out) == {"input_ids", "position_ids", "attention_mask", "choice_ids", "choice_indices"}
    for key in out:
        assert nested(out[key]) == case[key], key
    # One example's choices may be given flat, and as id lists.
    as_ids = [zh.encode(c, add_special_tokens=False) for c in case["choices"]]
    flat = build_inputs_for_multiple_choice(zh, zh.encode(case["text"]), as_ids)
    assert flat["input_ids"].tolist() == case["input_ids"]


def test_unknown_characters_are_counted(zh, golden):
    for text in ("龘靐齉爩", "😀👍"):
        case = next(c for c in golden["encode"] if c["text"] == text)
        assert zh.count_unknown(text) == 1
        assert zh.count_unknown(case["input_ids"]) == 1
        assert zh.unknown_pieces(text) == [text]
        assert "⁇" in zh.decode(case["input_ids"], skip_special_tokens=True)
    assert zh.unknown_pieces("a😀b龘c[MASK]") == ["😀", "龘"] and zh.count_unknown("a😀b龘c") == 2
    assert zh.count_unknown("北京故宫是中国[MASK]非物质文化遗产。") == 0
    assert zh.unknown_pieces("北京") == []


# --- the English tokenizers -----------------------------------------------------------------

ENGLISH_IDS = {
    "bert": dict(cls=101, eos=102, pad=0, sep=102, mask=103, smask=None, gmask=None, sop=30522, eop=30523, unk=100),
    "gpt2": dict(
        cls=50259, eos=50256, pad=50256, sep=50261, mask=50260, smask=50264, gmask=50263, sop=50257, eop=50258, unk=50262
    ),
    "roberta": dict(cls=0, eos=2, pad=1, sep=2, mask=50264, smask=None, gmask=None, sop=50265, eop=50266, unk=3),
}
ENGLISH_SIZES = {"bert": (30524, 30592), "gpt2": (50265, 50304), "roberta": (50267, 50304)}


@pytest.mark.parametrize("name", ["bert", "gpt2", "roberta"])
def test_english_command_ids(request, name):
    tok = request.getfixturevalue(name)
    expected = ENGLISH_IDS[name]
    assert {role: getattr(tok, f"{role}_token_id") for role in expected} == expected
    assert tok.kind == name and (tok.vocab_size, tok.padded_vocab_size) == ENGLISH_SIZES[name]
    assert tok.mask_token_ids == {expected[r] for r in ("mask", "smask", "gmask")} - {None}
    assert tok.convert_tokens_to_ids(["<|startofpiece|>", "<|endofpiece|>"]) == [expected["sop"], expected["eop"]]


@pytest.mark.parametrize("name", ["bert", "gpt2", "roberta"])
def test_english_round_trip(request, name):
    tok = request.getfixturevalue(name)
    ids = tok.encode(ENGLISH)
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.eos_token_id
    assert tok.count_unknown(ids) == 0
    expected = ENGLISH.lower() if name == "bert" else ENGLISH
    assert tok.decode(ids, skip_special_tokens=True) == expected
    assert tok.decode(tok.encode(tok.decode(ids), add_special_tokens=False)) == tok.decode(ids)


@pytest.mark.parametrize("name", ["bert", "gpt2", "roberta", "zh"])
def test_mask_in_text_is_the_mask_id(request, name):
    tok = request.getfixturevalue(name)
    ids = tok.encode("The movie was [MASK].")
    assert ids.count(tok.mask_token_id) == 1
    # The blank eats the space on its left, as GLM's blank tokens strip it.
    parts = tok.encode("The movie was", add_special_tokens=False), tok.encode(".", add_special_tokens=False)
    assert ids == [tok.cls_token_id, *parts[0], tok.mask_token_id, *parts[1], tok.eos_token_id]


def test_gpt2_blank_spacing(gpt2):
    assert gpt2.tokenize("It was [MASK] great") == ["It", "Ġwas", "[MASK]", "Ġgreat"]
    assert gpt2.tokenize("[gMASK] then [sMASK]") == ["[gMASK]", "Ġthen", "[sMASK]"]


def test_roberta_mask_spellings(roberta):
    assert roberta.encode("It was <mask>.") == roberta.encode("It was [MASK].")
    assert roberta.convert_ids_to_tokens(roberta.mask_token_id) == "<mask>"


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_missing_task_blanks_raise(request, name):
    tok = request.getfixturevalue(name)
    assert tok.smask_token_id is None and tok.gmask_token_id is None
    for blank in ("[sMASK]", "[gMASK]"):
        with pytest.raises(ValueError, match=rf"has no \{blank[:-1]}\] token"):
            tok.encode(f"Question: why? Answer: {blank}")
        with pytest.raises(ValueError, match="has no"):
            tok.convert_tokens_to_ids(blank)


def test_bert_unknown_word(bert):
    text = "I love it 😀 so much"
    assert bert.count_unknown(text) == 1 and bert.unknown_pieces(text) == ["😀"]
    assert bert.decode(bert.encode(text), skip_special_tokens=True) == "i love it [UNK] so much"


@pytest.mark.parametrize(
    ("name", "folder", "hf_class"),
    [
        ("bert", "glm-english-bert", "BertTokenizerFast"),
        ("gpt2", "glm-gpt2", "GPT2TokenizerFast"),
        ("roberta", "glm-roberta", "RobertaTokenizerFast"),
    ],
)
def test_english_text_matches_transformers(request, tokenizers_dir, name, folder, hf_class):
    transformers = pytest.importorskip("transformers")
    reference = getattr(transformers, hf_class).from_pretrained(str(tokenizers_dir / folder))
    tok = request.getfixturevalue(name)
    for text in (ENGLISH, "It's naïve: 3.5% of “café” Über-users 😀 日本語\tend  ", "  spaced out  "):
        ids = reference.encode(text, add_special_tokens=False)
        assert tok.encode(text, add_special_tokens=False) == ids
        # Without cleanup, as transformers 5 decodes by default (4.x cleaned up spaces by default).
        assert tok.decode(ids) == reference.decode(ids, clean_up_tokenization_spaces=False)


# --- building GLM inputs ----------------------------------------------------------------------


def test_batched_generation_pads_right(zh, golden):
    texts = [golden["generation_inputs"]["text"], "问题：啤酒伤胃吗？回答：[gMASK]"]
    contexts = [zh.encode(t) for t in texts]
    gen = 5
    out = build_inputs_for_generation(zh, contexts, gen)
    width = max(map(len, contexts))
    assert out["input_ids"].shape == (2, width + 1)
    assert out["generation_attention_mask"].shape == (2, 1, width + gen, width + gen)
    for row, context in enumerate(contexts):
        single = build_inputs_for_generation(zh, [context], gen)
        n = len(context)
        assert out["input_ids"][row].tolist() == context + [zh.pad_token_id] * (width - n) + [zh.sop_token_id]
        # Real tokens keep their positions and see exactly what they see unpadded.
        real = list(range(n)) + list(range(width, width + gen))
        assert torch.equal(out["position_ids"][row][:, real], single["position_ids"][0])
        seen = out["generation_attention_mask"][row, 0][real][:, real]
        assert torch.equal(seen, single["generation_attention_mask"][0, 0])
        assert not out["generation_attention_mask"][row, 0, :, n:width].any()
    # A padded tensor with its attention mask (left padding here) gives the same inputs.
    padded = torch.full((2, width), zh.pad_token_id)
    mask = torch.zeros((2, width), dtype=torch.long)
    for row, context in enumerate(contexts):
        padded[row, width - len(context) :] = torch.tensor(context)
        mask[row, width - len(context) :] = 1
    again = build_inputs_for_generation(zh, padded, gen, attention_mask=mask)
    assert all(torch.equal(again[k], out[k]) for k in out)


def test_batched_training_targets(zh):
    contexts = [zh.encode("北京故宫是中国[MASK]非物质文化遗产。"), zh.encode("[sMASK]")]
    targets = ["现存最大的古代宫殿建筑", "好"]
    out = build_inputs_for_generation(zh, contexts, 16, targets=targets)
    answers = [zh.encode(t, add_special_tokens=False) + [zh.eop_token_id] for t in targets]
    width, gen = len(contexts[0]), len(answers[0])
    assert out["labels"].tolist() == [
        [-100] * width + answers[0],
        [-100] * width + answers[1] + [-100] * (gen - len(answers[1])),
    ]
    assert out["input_ids"][1].tolist() == contexts[1] + [zh.pad_token_id] * (width - len(contexts[1])) + [
        zh.sop_token_id,
        *answers[1][:-1],
    ] + [zh.pad_token_id] * (gen - len(answers[1]))
    assert out["position_ids"][1, 0, width:].tolist() == [1] * gen  # [sMASK] sits at 1, after [CLS]
    # max_gen_length cuts target + eop.
    cut = build_inputs_for_generation(zh, contexts[:1], 3, targets=targets[0])
    assert cut["labels"][0, width:].tolist() == answers[0][:3]


def test_multiple_choice_batch_and_eop(zh):
    contexts = [zh.encode("凯旋门是为纪念[MASK]而建。"), zh.encode("[MASK]")]
    choices = [["拿破仑", "凯撒大帝"], ["好"]]
    out = build_inputs_for_multiple_choice(zh, contexts, choices, include_eop=True)
    for row, (context, cands) in enumerate(zip(contexts, choices)):
        single = build_inputs_for_multiple_choice(zh, [context], [cands], include_eop=True)
        n = single["input_ids"].shape[1]
        assert torch.equal(out["input_ids"][row, :n], single["input_ids"][0])
        assert (out["input_ids"][row, n:] == zh.pad_token_id).all()
        assert torch.equal(out["attention_mask"][row, 0, :n, :n], single["attention_mask"][0, 0])
        assert not out["attention_mask"][row, 0, n:].any() and not out["attention_mask"][row, 0, :, n:].any()
        assert (out["position_ids"][row, :, n:] == single["position_ids"][0, :, -1:]).all()
        for ids, indices, cand in zip(out["choice_ids"][row], out["choice_indices"][row], cands):
            target = zh.encode(cand, add_special_tokens=False) + [zh.eop_token_id]
            assert ids.tolist() == target
            # Candidate c is fed as [sop] + c and scored on c + [eop].
            assert out["input_ids"][row, indices].tolist() == [zh.sop_token_id, *target[:-1]]


def test_builders_need_a_blank(zh, gpt2):
    needs_any = r"example 1 has no blank: this builder needs one of \[MASK\], \[sMASK\], \[gMASK\]"
    with pytest.raises(ValueError, match=needs_any):
        build_inputs_for_generation(zh, [zh.encode("[MASK]"), zh.encode("没有空白")], 4)
    needs_mask = r"example 0 has no blank \(it has \[gMASK\]\): this builder needs one of \[MASK\]$"
    with pytest.raises(ValueError, match=needs_mask):
        build_inputs_for_multiple_choice(zh, zh.encode("回答：[gMASK]"), ["好"])
    with pytest.raises(ValueError, match=r"needs one of \[MASK\], \[gMASK\], \[sMASK\]"):
        build_inputs_for_generation(gpt2, gpt2.encode("no blank here"), 4)
    with pytest.raises(ValueError, match="choices has 1 entries for 2 examples"):
        build_inputs_for_multiple_choice(zh, [zh.encode("[MASK]")] * 2, [["好"]])
    with pytest.raises(ValueError, match="encodes to no tokens"):
        build_inputs_for_multiple_choice(zh, zh.encode("[MASK]"), ["好", "  "])


def test_english_builders(bert, roberta):
    for tok in (bert, roberta):
        out = build_inputs_for_multiple_choice(tok, tok.encode("It was [MASK]."), [" great", " terrible"])
        mask_pos = tok.encode("It was [MASK].").index(tok.mask_token_id)
        assert (out["position_ids"][0, 0, len(tok.encode("It was [MASK].")) :] == mask_pos).all()
        gen = build_inputs_for_generation(tok, tok.encode("It was [MASK]."), 3)
        assert gen["input_ids"][0, -1].item() == tok.sop_token_id


# --- loading and saving -----------------------------------------------------------------------


def test_load_errors(tokenizers_dir, tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        load_tokenizer(tmp_path / "absent")
    looked_for = rf"no GLM tokenizer files in {tmp_path}: looked for .*cog-pretrain.model.*vocab.txt.*vocab.json"
    with pytest.raises(MissingFileError, match=looked_for):
        load_tokenizer(tmp_path)
    with pytest.raises(ValueError, match=r"pass kind='gpt2' or kind='roberta'"):
        load_tokenizer(tokenizers_dir / "glm-gpt2")
    with pytest.raises(ValueError, match="unknown tokenizer kind 'llama'"):
        load_tokenizer(tokenizers_dir / "glm-gpt2", kind="llama")  # type: ignore[arg-type]
    with pytest.raises(MissingFileError, match="lacks vocab.txt"):
        load_tokenizer(tokenizers_dir / "glm-gpt2", kind="bert")
    with pytest.raises(ValueError, match="is not the roberta vocabulary"):
        load_tokenizer(tokenizers_dir / "glm-gpt2", kind="roberta")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "LlamaTokenizer"}')
    with pytest.raises(ValueError, match="'LlamaTokenizer', which is not a GLM tokenizer"):
        load_tokenizer(tmp_path)


def test_load_refuses_other_command_ids(tokenizers_dir, tmp_path):
    """An unfixed glm-10b-chinese layout ([gMASK] at eop's id) is refused, not misread."""
    (tmp_path / "cog-pretrain.model").symlink_to(tokenizers_dir / "glm-chinese" / "cog-pretrain.model")
    (tmp_path / "added_tokens.json").write_text(json.dumps({"[gMASK]": 50007, "[UNK]": 50010}))
    with pytest.raises(ValueError, match=r"gives \{'\[gMASK\]': 50007\}.*has \{'\[gMASK\]': 50009\}"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize(
    ("name", "tokenizer_class"),
    [("zh", "GLMChineseTokenizer"), ("bert", "GLMBertTokenizer"), ("gpt2", "GLMGPT2Tokenizer"), ("roberta", "GLMRobertaTokenizer")],
)
def test_save_then_load(request, tmp_path, name, tokenizer_class):
    tok = request.getfixturevalue(name)
    written = tok.save_pretrained(tmp_path / "saved")
    assert {p.name for p in written} >= {"tokenizer_config.json", "added_tokens.json"}
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == tokenizer_class == type(tok).__name__
    again = load_tokenizer(tmp_path / "saved")  # the config tells GPT-2 from RoBERTa
    assert type(again) is type(tok) and again.command_tokens == tok.command_tokens
    for text in ("北京故宫是中国[MASK]非物质文化遗产。", ENGLISH + " It was [MASK]."):
        assert again.encode(text) == tok.encode(text)


# --- generic SentencePiece (kind "sentencepiece") --------------------------------------------


def test_sentencepiece_kind_matches_the_chinese_tokenizer(zh, tokenizers_dir, tmp_path):
    """cog-pretrain.model as a plain ``tokenizer.model`` is the N = 50000 case of the generic layout."""
    from glm_tune.tokenizer import GLMSentencePieceTokenizer

    (tmp_path / "tokenizer.model").symlink_to(tokenizers_dir / "glm-chinese" / "cog-pretrain.model")
    generic = load_tokenizer(tmp_path)  # detected from the file alone
    assert isinstance(generic, GLMSentencePieceTokenizer) and generic.kind == "sentencepiece"
    assert generic.command_tokens == zh.command_tokens
    assert (generic.vocab_size, generic.padded_vocab_size) == (zh.vocab_size, zh.padded_vocab_size)
    for text in ("北京故宫是中国[MASK]非物质文化遗产。", "龘 [sMASK] x [gMASK]", ENGLISH):
        assert generic.encode(text) == zh.encode(text)
        assert generic.count_unknown(text) == zh.count_unknown(text)
    ids = generic.encode("北京[MASK]遗产")
    assert generic.decode(ids) == zh.decode(ids)

    written = generic.save_pretrained(tmp_path / "saved")
    assert {p.name for p in written} == {"tokenizer.model", "tokenizer_config.json", "added_tokens.json"}
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "GLMSentencePieceTokenizer"
    assert json.loads((tmp_path / "saved" / "added_tokens.json").read_text())["[gMASK]"] == 50009
    again = load_tokenizer(tmp_path / "saved")
    assert type(again) is GLMSentencePieceTokenizer and again.command_tokens == generic.command_tokens


def test_sentencepiece_kind_for_any_size(tmp_path):
    import sentencepiece as spm

    lines = [f"sentence number {i} of a tiny corpus, with words like cat, dog and film." for i in range(200)]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(tmp_path / "tokenizer"), vocab_size=50,
        bos_id=-1, eos_id=-1, minloglevel=2,
    )
    tok = load_tokenizer(tmp_path)
    assert tok.vocab_size == 60 and tok.padded_vocab_size == 128
    assert tok.command_tokens["<|endoftext|>"] == 50 and tok.command_tokens["[gMASK]"] == 59
    assert tok.encode("a dog [MASK]") == [52, *tok.encode("a dog", add_special_tokens=False), 53, 50]
    with pytest.raises(ValueError, match="outside"):
        tok.decode([60])

    (tmp_path / "bad").mkdir()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(tmp_path / "bad" / "tokenizer"), vocab_size=50,
        unk_id=2, bos_id=0, eos_id=1, minloglevel=2,
    )
    with pytest.raises(ValueError, match="<unk> at piece 2"):
        load_tokenizer(tmp_path / "bad")
    (tmp_path / "both").mkdir()
    for name in ("tokenizer.model", "cog-pretrain.model"):
        (tmp_path / "both" / name).symlink_to(tmp_path / "tokenizer.model")
    with pytest.raises(ValueError, match="several tokenizers"):
        load_tokenizer(tmp_path / "both")


def test_flagai_spiece_model_is_found(tokenizers_dir, zh, tmp_path):
    """FlagAI 1.8.4 names glm-large-ch's SentencePiece file spiece.model."""
    (tmp_path / "spiece.model").symlink_to(tokenizers_dir / "glm-chinese" / "cog-pretrain.model")
    tokenizer = load_tokenizer(tmp_path)
    assert tokenizer.kind == "chinese-sp"
    text = "北京故宫是中国[MASK]非物质文化遗产。"
    assert tokenizer.encode(text) == zh.encode(text)
    tokenizer.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "cog-pretrain.model").is_file()
