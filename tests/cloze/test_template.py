"""Cloze templates on the real GLM tokenizers: rendering, the blank, truncation, errors."""

from __future__ import annotations

import json

import pytest

from glm_tune.cloze.template import (
    MASK,
    SMASK,
    Field,
    MissingFieldError,
    Patterns,
    Template,
    TemplateError,
    Text,
    TruncationError,
    UnknownPatternError,
    lowercase_first,
    parse,
    remove_final_punc,
)
from glm_tune.tokenizer import load_tokenizer

SST2 = {"sentence": "a charming and often affecting journey.", "label": "1"}
RTE = {
    "premise": "No Weapons of Mass Destruction Found in Iraq Yet.",
    "hypothesis": "Weapons of Mass Destruction Found in Iraq.",
    "label": "not_entailment",
    "idx": 0,
}
TNEWS = {"label": 107, "sentence": "前车主路突然停车，后车刹车不及时撞上去了，这个责任怎么算？", "keywords": "前车,后车", "id": 5830}
TNEWS_PATTERN = "标题：{sentence}关键词：{keywords}类别：[MASK]"



@pytest.fixture(scope="module")
def roberta(tokenizers_dir):
    return load_tokenizer(str(tokenizers_dir / "glm-roberta"), kind="roberta")


@pytest.fixture(scope="module")
def tnews_rows(shared):
    with open(shared / "data" / "fewclue" / "tnews" / "dev_few_all.json", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def glm_reference(tokenizer, parts_a, parts_b=()):
    """GLM's PVP encoding: every string part encoded on its own, ``[CLS] A B <eos>``."""
    ids = [tokenizer.cls_token_id]
    for part in [*parts_a, *parts_b]:
        ids += [tokenizer.mask_token_id] if part is MASK else tokenizer.encode(part, add_special_tokens=False)
    return ids + [tokenizer.eos_token_id]


# --- writing templates ---------------------------------------------------------------------


def test_parse_format_string():
    assert parse("{sentence} It was [MASK].") == [Field("sentence"), Text(" It was "), MASK, Text(".")]
    assert parse("{{literal}} {x}[sMASK]") == [Text("{literal} "), Field("x"), SMASK]
    for bad in ("{sentence It was [MASK]", "a } b [MASK]", "{} [MASK]", "{two words} [MASK]"):
        with pytest.raises(TemplateError):
            parse(bad)


def test_template_needs_exactly_one_blank():
    with pytest.raises(TemplateError, match="exactly one blank.*found 0"):
        Template("{sentence} It was great.")
    with pytest.raises(TemplateError, match="found 2.*out of scope for classification"):
        Template("{sentence} [MASK] and [MASK].")
    with pytest.raises(TemplateError, match="found 2"):
        Template('"{hypothesis}" [MASK]', "[MASK], {premise}")  # one in A, one in B

    def two_blanks(row):
        return [row["sentence"], MASK, MASK]

    template = Template(two_blanks)  # a function is checked when it renders
    with pytest.raises(TemplateError, match="found 2"):
        template.render(SST2)


def test_missing_field_names_field_and_row():
    template = Template('"{hypothesis}" ?', '[MASK], "{premise}"')
    row = {"hypothesis": "x", "idx": 41}
    with pytest.raises(MissingFieldError, match=r"row 41 .*no field 'premise'.*fields: \['hypothesis', 'idx'\]"):
        template.render(row)
    with pytest.raises(MissingFieldError, match=r"row 'train.jsonl:7' .*no field 'premise'"):
        template.render(row, row_id="train.jsonl:7")

    def rte(row):
        return [row["hypothesis"], MASK, row["premise"]]

    with pytest.raises(MissingFieldError, match="row 41 .*no field 'premise'"):
        Template(rte).render(row)


def test_shrink_must_name_fields_of_the_template():
    with pytest.raises(TemplateError, match="does not use"):
        Template("{sentence} It was [MASK].", shrink=["premise"])
    with pytest.raises(TemplateError, match="unknown truncation"):
        Template("{sentence} It was [MASK].", truncation="shortest")


# --- encoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bert", "gpt2", "roberta", "zh"])
def test_sst2_blank_position_and_glm_parts(request, name):
    tok = request.getfixturevalue(name)
    string_form = Template("{sentence} It was [MASK].")
    list_form = Template(["{sentence}", " It was", MASK, "."])
    enc = string_form.encode(SST2, tok, max_length=64)
    assert enc.input_ids == list_form.encode(SST2, tok, max_length=64).input_ids
    assert enc.input_ids[enc.mask_position] == tok.mask_token_id
    assert enc.input_ids.count(tok.mask_token_id) == 1
    assert enc.input_ids[0] == tok.cls_token_id and enc.input_ids[-1] == tok.eos_token_id
    assert enc.text == "a charming and often affecting journey. It was [MASK]."
    assert enc.truncated == 0 and enc.part_b_start is None
    if name != "zh":  # English: exactly GLM's Sst2PVP parts [text, " It was", MASK, "."]
        assert enc.input_ids == glm_reference(tok, [SST2["sentence"], " It was", MASK, "."])


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_rte_pattern0_static_and_function_forms(request, name):
    tok = request.getfixturevalue(name)
    static = Template('"{hypothesis}" ?', '[MASK], "{premise}"')

    def rte0(row):  # GLM's RtePVP pattern 0, which strips the hypothesis' final punctuation
        hypothesis = Text(remove_final_punc(row["hypothesis"]), "hypothesis")
        return ['"', hypothesis, '" ?'], [MASK, ', "', Text(row["premise"], "premise"), '"']

    enc = static.encode(RTE, tok, max_length=128)
    assert enc.text == (
        '"Weapons of Mass Destruction Found in Iraq." ?[MASK], "No Weapons of Mass Destruction Found in Iraq Yet."'
    )
    assert enc.mask_position == enc.part_b_start  # Part B opens with the blank
    assert enc.input_ids[enc.mask_position] == tok.mask_token_id
    assert enc.input_ids == glm_reference(tok, ['"', RTE["hypothesis"], '" ?'], [MASK, ', "', RTE["premise"], '"'])

    exact = Template(rte0).encode(RTE, tok, max_length=128)
    hypothesis = remove_final_punc(RTE["hypothesis"])
    assert exact.input_ids == glm_reference(tok, ['"', hypothesis, '" ?'], [MASK, ', "', RTE["premise"], '"'])
    assert exact.part_b_start == exact.mask_position


def test_tnews_chinese_matches_whole_string(zh, tnews_rows):
    template = Template(TNEWS_PATTERN)
    enc = template.encode(TNEWS, zh, max_length=128)
    assert enc.text == "标题：前车主路突然停车，后车刹车不及时撞上去了，这个责任怎么算？关键词：前车,后车类别：[MASK]"
    assert enc.mask_position == len(enc.input_ids) - 2
    assert enc.input_ids == zh.encode(enc.text)
    # A plain per-piece encode (GLM's) puts SentencePiece's word-start piece before "关键词" and
    # "类别"; encoding continuations avoids it.
    per_piece = glm_reference(zh, ["标题：", TNEWS["sentence"], "关键词：", TNEWS["keywords"], "类别：", MASK])
    assert len(per_piece) > len(enc.input_ids)
    # Most rows equal the whole-string encode; the rest have a token straddling a field boundary.
    same = sum(template.encode(row, zh, 256).input_ids == zh.encode(template.render(row).text) for row in tnews_rows)
    assert same >= 0.85 * len(tnews_rows)


def test_fields_do_not_merge_with_neighbours(zh):
    row = {"sentence": "民政局", "keywords": "婆媳关系,小情人"}
    enc = Template(TNEWS_PATTERN).encode(row, zh, max_length=64)
    whole = zh.encode(enc.text)
    # The whole string reads "...小情人类别" as 情 人类 别; by piece, the keyword 情人 stays whole.
    assert [zh.decode([i]) for i in whole[-6:-2]] == ["情", "人类", "别", ":"]
    assert [zh.decode([i]) for i in enc.input_ids[-6:-2]] == ["小", "情人", "类别", ":"]


def test_command_token_text_in_data_is_rejected(gpt2, zh):
    template = Template("{sentence} It was [MASK].")
    with pytest.raises(TemplateError, match=r"field 'sentence' of row .*command-token text \(\[MASK\]\)"):
        template.encode({"sentence": "it was [MASK] really"}, gpt2, 64)
    with pytest.raises(TemplateError, match=r"command-token text \(<\|endoftext\|>\)"):
        template.encode({"sentence": "end<|endoftext|>"}, zh, 64)

    def sneaky(row):
        return [row["sentence"], " It was [MASK]", MASK]

    with pytest.raises(TemplateError, match="contains a blank token"):
        Template(sneaky).encode(SST2, gpt2, 64)


# --- truncation ----------------------------------------------------------------------------


def test_truncation_keeps_blank_and_shrinks_longest_field(gpt2):
    template = Template('"{hypothesis}" ?', '[MASK], "{premise}"')
    long_row = dict(RTE, premise=" ".join(["word"] * 60))
    full = template.encode(long_row, gpt2, max_length=1000)
    enc = template.encode(long_row, gpt2, max_length=40)
    assert len(enc.input_ids) == 40
    assert enc.truncated == len(full.input_ids) - 40
    assert enc.truncated_fields == {"premise": enc.truncated}  # the short hypothesis is untouched
    assert enc.input_ids[enc.mask_position] == gpt2.mask_token_id
    assert enc.input_ids[-3:] == full.input_ids[-3:]  # the closing quote and <eos> are template text
    # Cut from the end: the kept premise tokens are the first ones.
    start = enc.mask_position + 1 + len(gpt2.encode(', "', add_special_tokens=False))
    kept = enc.input_ids[start:-2]
    assert kept == full.input_ids[start : start + len(kept)]


def test_longest_first_evens_out_fields_and_in_order_empties_first(bert):
    row = {"a": " ".join(["alpha"] * 30), "b": " ".join(["beta"] * 20)}
    longest = Template("{a} {b} [MASK].", truncation="longest_first")
    enc = longest.encode(row, bert, max_length=2 + 1 + 1 + 30)  # specials, blank, "." and 30 field tokens
    assert enc.truncated == 20 and enc.truncated_fields == {"a": 15, "b": 5}  # 15 left in each
    in_order = Template("{a} {b} [MASK].", shrink=["b", "a"], truncation="in_order")
    enc = in_order.encode(row, bert, max_length=34)
    assert enc.truncated_fields == {"b": 20}
    assert enc.input_ids[1:31] == bert.encode(row["a"], add_special_tokens=False)


def test_left_side_keeps_the_end(bert):
    row = {"sentence": "one two three four five six"}
    # room for two sentence tokens: [CLS] . . it was [MASK] . <eos>
    enc = Template("{sentence} It was [MASK].", side="left").encode(row, bert, max_length=8)
    assert bert.decode(enc.input_ids[1:3]) == "five six"


def test_only_named_fields_shrink_and_too_long_raises(gpt2):
    template = Template('"{hypothesis}" ?', '[MASK], "{premise}"', shrink=["premise"])
    row = dict(RTE, hypothesis=" ".join(["long"] * 50), idx=17)
    with pytest.raises(TruncationError, match=r"row 17 .*max_length=40.*encodes to \d+ tokens.*fields \['premise'\]"):
        template.encode(row, gpt2, max_length=40)
    fits = Template('"{hypothesis}" ?', '[MASK], "{premise}"').encode(row, gpt2, max_length=40)
    assert set(fits.truncated_fields) <= {"hypothesis", "premise"} and len(fits.input_ids) == 40


def test_template_text_too_long_raises(zh):
    template = Template("这是一个很长很长很长的模板，它本身就放不下。{sentence}类别：[MASK]")
    with pytest.raises(TruncationError, match="row 5830 .*may not shrink"):
        template.encode(TNEWS, zh, max_length=8)


def test_reserve_keeps_room(zh):
    enc = Template(TNEWS_PATTERN).encode(TNEWS, zh, max_length=20, reserve=1)
    assert len(enc.input_ids) == 19 and enc.input_ids[enc.mask_position] == zh.mask_token_id


# --- several patterns and PET-style logic ---------------------------------------------------


def test_pattern_ids():
    patterns = Patterns({
        0: Template("{sentence} It was [MASK]."),
        1: Template("{sentence} All in all, it was [MASK]."),
    })
    assert patterns[1].fields == ["sentence"] and 0 in patterns and 7 not in patterns
    with pytest.raises(UnknownPatternError, match=r"unknown pattern id 7; known ids: \[0, 1\]"):
        patterns[7]
    assert list(Patterns([Template("[MASK] {x}")])) == [0]


def test_copa_style_function(gpt2):
    def copa(row):
        c1, c2 = (remove_final_punc(lowercase_first(row[k])) for k in ("choice1", "choice2"))
        joiner = " because" if row["question"] == "cause" else ", so"
        premise = Text(" " + remove_final_punc(row["premise"]), "premise")
        return ['"', c1, '" or "', c2, '"?', premise, joiner, MASK, "."]

    row = {
        "premise": "The man slid the razor across his chin.",
        "choice1": "His stubble grew.",
        "choice2": "His stubble disappeared.",
        "question": "effect",
        "idx": 94,
    }
    enc = Template(copa).encode(row, gpt2, max_length=64)
    assert enc.text == (
        '"his stubble grew" or "his stubble disappeared"? The man slid the razor across his chin, so[MASK].'
    )
    assert enc.input_ids[enc.mask_position] == gpt2.mask_token_id
    # Only the premise is shrinkable; the choices are fixed text.
    short = Template(copa).encode(row, gpt2, max_length=len(enc.input_ids) - 3)
    assert short.truncated_fields == {"premise": 3}
