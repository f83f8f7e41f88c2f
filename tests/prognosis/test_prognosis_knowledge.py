"""The knowledge loader fails loudly on malformed files, unknown and duplicate reference ids."""

from pathlib import Path

import pytest

from brainmets.knowledge import (
    KnowledgeError,
    UnknownReferenceError,
    knowledge_version,
    load_references,
    loader,
    reference,
    references,
    require_refs,
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_references_load_and_cite():
    refs = references()
    assert "GPA-08" in refs and "APP-2020" in refs
    cit = reference("LUNGMOL-17").citation
    assert "JAMA Oncol" in cit and "2017" in cit and "doi:10.1001/jamaoncol.2016.3834" in cit
    assert knowledge_version().startswith(loader.SCHEMA_VERSION + "+")


def test_unknown_reference_id_fails_loudly():
    with pytest.raises(UnknownReferenceError, match="my table: unknown reference id.*NOPE-99"):
        require_refs(["GPA-08", "NOPE-99"], "my table")
    with pytest.raises(UnknownReferenceError, match="NOPE-99"):
        reference("NOPE-99")


def test_malformed_toml_names_the_file(tmp_path):
    _write(tmp_path / "bad.toml", '[[reference]]\nid = "X"\ntitle = "unterminated\n')
    with pytest.raises(KnowledgeError, match=r"bad\.toml: malformed TOML"):
        load_references(tmp_path)


def test_missing_title_and_bad_year_fail(tmp_path):
    _write(tmp_path / "a.toml", '[[reference]]\nid = "X"\n')
    with pytest.raises(KnowledgeError, match=r"a\.toml.*'title' is required"):
        load_references(tmp_path)
    _write(tmp_path / "a.toml", '[[reference]]\nid = "X"\ntitle = "t"\nyear = "2020"\n')
    with pytest.raises(KnowledgeError, match="'year' must be an integer"):
        load_references(tmp_path)


def test_typo_in_table_name_fails(tmp_path):
    _write(tmp_path / "a.toml", '[[references]]\nid = "X"\ntitle = "t"\n')
    with pytest.raises(KnowledgeError, match="unknown top-level key"):
        load_references(tmp_path)


def test_duplicate_id_across_files_names_both(tmp_path):
    _write(tmp_path / "one.toml", '[[reference]]\nid = "DUP"\ntitle = "a"\n')
    _write(tmp_path / "two.toml", '[[reference]]\nid = "DUP"\ntitle = "b"\n')
    pattern = r"duplicate reference id 'DUP' in .*one\.toml and .*two\.toml"
    with pytest.raises(KnowledgeError, match=pattern):
        load_references(tmp_path)


def test_load_toml_malformed_and_missing(tmp_path, monkeypatch):
    _write(tmp_path / "x" / "t.toml", "a = [1, 2\n")
    monkeypatch.setattr(loader, "DATA_DIR", tmp_path)
    loader._load_toml_cached.cache_clear()
    try:
        with pytest.raises(KnowledgeError, match=r"t\.toml: malformed TOML"):
            loader.load_toml("x/t.toml")
        with pytest.raises(KnowledgeError, match="no such knowledge file"):
            loader.load_toml("x/none.toml")
    finally:
        loader._load_toml_cached.cache_clear()


def test_load_toml_returns_a_copy():
    a = loader.load_toml("references/prognosis.toml")
    a["reference"].clear()
    assert loader.load_toml("references/prognosis.toml")["reference"]


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of the knowledge data folder, made the active one."""
    import shutil

    dst = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, dst)
    monkeypatch.setattr(loader, "DATA_DIR", dst)
    loader._load_toml_cached.cache_clear()
    yield dst
    loader._load_toml_cached.cache_clear()


@pytest.mark.parametrize(
    "old,new,message",
    [
        ('ref = "SPERDUTO-CM-08"', 'ref = "NOPE-1"', "unknown reference id.*NOPE-1"),
        ("median = 3.8", 'median = "3.8"', "'median' must be a number"),
        ("max = 2.5\n", "max = 2.0\n", r"score 2.5 falls in groups \[\]"),
        ('confidence = "single_source"', 'confidence = "sure"', "confidence must be one of"),
        ("points = 0.5\n", "points = 0.7\n", "multiples of 0.5"),
        ('input = "kps"', 'input = "karnofsky"', "factor needs a 'name' and an 'input'"),
    ],
)
def test_broken_index_table_fails_loudly(data_copy, old, new, message):
    from brainmets.prognosis import tables

    path = data_copy / "prognosis" / "gpa_2008.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message):
        tables._parse_index("gpa_2008")


def test_every_row_carries_a_known_reference():
    from brainmets.prognosis.tables import index_tables, not_verified

    known = references()
    for t in index_tables().values():
        assert t.confidence in ("confirmed", "single_source", "uncertain")
        for v in t.variants:
            for f in v.factors:
                assert all(b.ref in known for b in f.bands)
            assert all(g.ref in known for g in v.groups)
            assert all(r.ref in known for r in v.rules)
    assert {n.id for n in not_verified()} == {"lung_gpa_2022", "sclc_gpa", "sir",
                                              "eligibility_quotient"}
