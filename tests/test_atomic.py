import pytest

from glm_tune.atomic import atomic_path, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.md"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the new", encoding="utf-8")
            raise RuntimeError("disk full")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.md"]


def test_a_finished_write_replaces_the_file_and_creates_its_folder(tmp_path):
    path = tmp_path / "deep" / "metrics.json"
    write_text_atomic(path, "{}\n")
    write_text_atomic(path, '{"val/accuracy": 1.0}\n')
    assert path.read_text(encoding="utf-8") == '{"val/accuracy": 1.0}\n'
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]
