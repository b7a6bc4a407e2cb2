"""Reading raw-text documents from .txt, .jsonl/.json and .tsv files."""

from __future__ import annotations

import json

import pytest

from glm_tune.errors import MissingFileError
from glm_tune.pretraining.corpus import CorpusError, CorpusReport, default_corpus_files, read_documents


def test_text_files_give_one_document_per_paragraph(tmp_path):
    (tmp_path / "a.txt").write_text(
        "First paragraph, line one.\nLine two of it.\n\n\nSecond paragraph here, long enough.\n\nshort\n",
        encoding="utf-8",
    )
    assert list(read_documents([tmp_path / "a.txt"])) == [
        "First paragraph, line one.\nLine two of it.",
        "Second paragraph here, long enough.",
    ]


def test_json_lines_collect_text_strings(tmp_path):
    rows = [
        {"idx": 3, "label": "entailment", "premise": "The cat sat on the mat all day.",
         "passage": {"text": "A nested passage of text.", "questions": [{"question": "Where did it sit?"}]},
         "word": "sit", "question": "cause"},
        {"id": 1, "sentence": "质量非常好，物流也很快，包装也不错，下次还会再来。", "keywords": "质量,物流", "label_desc": "news_story"},
        {"id": 2, "sentence": "two words", "note": "single"},
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    report = CorpusReport()
    assert list(read_documents([path], report=report)) == [
        "The cat sat on the mat all day.\nA nested passage of text.\nWhere did it sit?",
        "质量非常好，物流也很快，包装也不错，下次还会再来。",
    ]
    assert report.documents == {str(path): 2}
    assert list(read_documents([path], min_chars=5))[-1] == "two words"  # "single" is no text


def test_tsv_uses_the_sentence_column_or_non_numeric_columns(tmp_path):
    (tmp_path / "a.tsv").write_text('sentence\tlabel\nit \'s a "quoted" film , and good\t1\n', encoding="utf-8")
    (tmp_path / "b.tsv").write_text("premise\tscore\thypothesis\nA man plays a guitar.\t0.5\tSomeone makes music.\n",
                                    encoding="utf-8")
    assert list(read_documents([tmp_path / "a.tsv"])) == ["it 's a \"quoted\" film , and good"]
    assert list(read_documents([tmp_path / "b.tsv"])) == ["A man plays a guitar.\nSomeone makes music."]


def test_directories_are_recursed_in_order_and_other_files_reported(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Document in a subdirectory.\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("Document at the top level.\n", encoding="utf-8")
    (tmp_path / "notes.csv").write_text("x,y\n", encoding="utf-8")
    report = CorpusReport()
    with pytest.warns(UserWarning, match="notes.csv"):
        documents = list(read_documents([tmp_path], report=report))
    assert documents == ["Document at the top level.", "Document in a subdirectory."]
    assert report.skipped == [str(tmp_path / "notes.csv")]
    assert "skipped 1 files" in report.summary()


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine line of text here"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl, line 2: invalid JSON"):
        list(read_documents([bad]))
    ragged = tmp_path / "bad.tsv"
    ragged.write_text("sentence\tlabel\na fine sentence of text\t1\nno label here at all\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.tsv, line 3: 1 columns"):
        list(read_documents([ragged]))
    with pytest.raises(MissingFileError, match="missing"):
        list(read_documents([tmp_path / "missing"]))


def test_shared_corpus_is_training_text_only(shared):
    files = default_corpus_files(shared / "data")
    names = [str(f.relative_to(shared / "data")) for f in files]
    assert names[0] == "sst2/train.tsv"
    assert all(n == "sst2/train.tsv" or n.endswith(("/unlabeled.jsonl", "/unlabeled.json")) for n in names)
    assert any(n.startswith("fewglue/") for n in names) and any(n.startswith("fewclue/") for n in names)
    report = CorpusReport()
    documents = list(read_documents(files, report=report))
    assert not report.skipped and all(report.documents[str(f)] > 0 for f in files)
    assert len(documents) > 50000
    assert "the part where nothing 's happening ," in documents
    assert any("#idiom#" in d for d in documents)  # chid contents
    assert not any(d.strip().isdigit() for d in documents)
