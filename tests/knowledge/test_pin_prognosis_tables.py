"""Every number of every prognostic index table, pinned to the spec.

Expected tables below are transcribed by hand from ``shared/reference/prognosis.md`` (the
section is named above each one); they are never read from ``knowledge/data/prognosis``.
The actual tables are the parsed objects the engine scores with
(:func:`brainmets.prognosis.tables.index_tables`), written in a compact text form:

* a band is ``<condition>:<points>`` with ``<a`` / ``>a`` exclusive, ``<=a`` / ``>=a`` / ``a-b``
  inclusive, ``=x|y`` a value list; `` warn@a`` marks the boundary value that is flagged and
  `` alt=p`` the points of the other reading; a factor with a missing-value rule ends with
  ``?:p``;
* a group is ``lo-hi median (p25-p75)`` with ``nr`` for a figure the source does not give and
  `` alt=m`` for a second median shown beside it;
* an RPA rule is ``label: conditions -> median``.

Any change to a point value, a cut-point, a median or an IQR bound fails here with a diff
that names the index, the variant and the row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from brainmets.knowledge import KnowledgeError, loader
from brainmets.prognosis import tables
from brainmets.prognosis.tables import Condition, IndexTable, index_tables


def _g(x: float | None) -> str:
    return "nr" if x is None else f"{x:g}"


def _cond(c: Condition) -> str:
    if c.values is not None:
        return "=" + "|".join(str(v).lower() for v in c.values)
    parts = []
    if c.min is not None and c.max is not None:
        parts.append(f"{c.min:g}-{c.max:g}")
    elif c.min is not None:
        parts.append(f">={c.min:g}")
    elif c.max is not None:
        parts.append(f"<={c.max:g}")
    if c.lt is not None:
        parts.append(f"<{c.lt:g}")
    if c.gt is not None:
        parts.append(f">{c.gt:g}")
    return ",".join(parts) or "any"


def _actual(index_id: str) -> dict[str, dict[str, object]]:
    return _render(index_tables()[index_id])


def _render(table: IndexTable) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for v in table.variants:
        factors = {}
        for f in v.factors:
            bands = []
            for b in f.bands:
                s = f"{_cond(b.cond)}:{b.points:g}"
                if b.warn_at is not None:
                    s += f" warn@{b.warn_at:g}"
                if b.alt_points is not None:
                    s += f" alt={b.alt_points:g}"
                bands.append(s)
            if f.if_missing_points is not None:
                bands.append(f"?:{f.if_missing_points:g}")
            factors[f"{f.name}({f.input})"] = bands
        groups = []
        for g in v.groups:
            s = f"{g.min:g}-{g.max:g} {_g(g.median)} ({_g(g.p25)}-{_g(g.p75)})"
            s += "".join(f" alt={a.median:g}" for a in g.alternatives)
            groups.append(s)
        rules = [
            f"{r.label}: " + " & ".join(f"{n}{_cond(c)}" for n, c in r.when) + f" -> {_g(r.median)}"
            for r in v.rules
        ]
        out[v.name] = {
            "score": f"{_g(v.score_min)}-{_g(v.score_max)}",
            "factors": factors,
            "groups": groups,
            "rules": rules,
        }
    return out


# prognosis.md §2 (original GPA) / §3.1 "Lung" (identical to §2): age > 60 / 50-60 / < 50,
# KPS < 70 / 70-80 / 90-100, BM > 3 / 2-3 / 1, ECM present/absent -> 0 / 0.5 / 1.
# Project decision 1: age 60 scores 0.5 as the app does, flagged, other reading 0.
_LUNG_AGE = [">60:0", "50-60:0.5", "<50:1"]
_LUNG_KPS = ["<70:0", "70-80:0.5", ">=90:1"]
_LUNG_BM = [">3:0", "2-3:0.5", "1-1:1"]
_ECM_0_1 = ["=true:0", "=false:1"]
_ECM_0_05 = ["=true:0", "=false:0.5"]
# prognosis.md §3.1 "Melanoma and Renal cell (same table)": KPS < 70 / 70-80 / 90-100 and
# BM > 3 / 2-3 / 1 -> 0 / 1 / 2.
_MEL_RENAL_2012 = {
    "kps(kps)": ["<70:0", "70-80:1", ">=90:2"],
    "bm_count(bm_count)": [">3:0", "2-3:1", "1-1:2"],
}
# prognosis.md §4.1 / §4.3: age >= 70 / < 70 -> 0 / 0.5; KPS <= 70 / 80 / 90-100 -> 0 / 0.5 / 1.
_MOL_AGE = [">=70:0", "<70:0.5"]
_MOL_KPS = ["<=70:0", "80-80:0.5", ">=90:1"]

EXPECTED: dict[str, dict[str, dict[str, object]]] = {
    # §1 RPA: III KPS < 70 -> 2.3; I KPS >= 70, age < 65, controlled, no ECM -> 7.1; II -> 4.2
    "rpa": {
        "all": {
            "score": "nr-nr",
            "factors": {},
            "groups": [],
            "rules": [
                "III: kps<70 -> 2.3",
                "I: kps>=70 & age<65 & controlled=true & ecm=false -> 7.1",
                "II:  -> 4.2",
            ],
        },
    },
    # §2 original GPA, RTOG medians 2.6 / 3.8 / 8.9 / 11.0; decision 2: 3.0 also shows 6.9
    "gpa_2008": {
        "all": {
            "score": "0-4",
            "factors": {
                "age(age)": [">60:0", "50-60:0.5 warn@60 alt=0", "<50:1"],
                "kps(kps)": _LUNG_KPS,
                "bm_count(bm_count)": _LUNG_BM,
                "ecm(ecm)": _ECM_0_1,
            },
            "groups": ["0-1 2.6 (nr-nr)", "1.5-2.5 3.8 (nr-nr)", "3-3 8.9 (nr-nr) alt=6.9",
                       "3.5-4 11 (nr-nr)"],
            "rules": [],
        },
    },
    # §3.1 point tables and §3.2 survival (median, 25th-75th percentile), APP-2013
    "ds_gpa_2012": {
        "lung": {
            "score": "0-4",
            "factors": {"age(age)": _LUNG_AGE, "kps(kps)": _LUNG_KPS, "ecm(ecm)": _ECM_0_1,
                        "bm_count(bm_count)": _LUNG_BM},
            "groups": ["0-1 3 (1.6-8.9)", "1.5-2 5.5 (2.2-14.3)", "2.5-3 9.4 (4.1-20.6)",
                       "3.5-4 14.8 (7.4-28.5)"],
            "rules": [],
        },
        "melanoma": {
            "score": "0-4",
            "factors": _MEL_RENAL_2012,
            "groups": ["0-1 3.4 (1.6-6)", "1.5-2 4.7 (2.5-11)", "2.5-3 8.8 (4.6-14.6)",
                       "3.5-4 13.2 (7.1-25.8)"],
            "rules": [],
        },
        "renal": {
            "score": "0-4",
            "factors": _MEL_RENAL_2012,
            "groups": ["0-1 3.3 (1.3-7.5)", "1.5-2 7.3 (2.9-15.8)", "2.5-3 11.3 (5-18.9)",
                       "3.5-4 14.8 (6.6-32.2)"],
            "rules": [],
        },
        # §3.1 Breast (2012): KPS <= 50 / 60 / 70-80 / 90-100 -> 0 / 0.5 / 1 / 1.5 (KPS 50
        # flagged, boundary note); subtype basal / lumA / HER2 / lumB -> 0 / 1 / 1.5 / 2;
        # age >= 60 / < 60 -> 0 / 0.5
        "breast": {
            "score": "0-4",
            "factors": {
                "kps(kps)": ["<=50:0 warn@50", "60-60:0.5", "70-80:1", ">=90:1.5"],
                "subtype(breast_subtype)": ["=basal:0", "=luminal_a:1", "=her2:1.5",
                                            "=luminal_b:2"],
                "age(age)": [">=60:0", "<60:0.5"],
            },
            "groups": ["0-1 3.4 (1.4-7.3)", "1.5-2 7.7 (3-15.2)", "2.5-3 15.1 (5.9-27.4)",
                       "3.5-4 25.3 (12.8-45.8)"],
            "rules": [],
        },
        # §3.1 GI (KPS only): < 70 / 70 / 80 / 90 / 100 -> 0 / 1 / 2 / 3 / 4; groups 0-1, 2, 3, 4
        "gi": {
            "score": "0-4",
            "factors": {"kps(kps)": ["<70:0", "70-70:1", "80-80:2", "90-90:3", "100-100:4"]},
            "groups": ["0-1 3.1 (1.8-6.2)", "2-2 4.4 (2.4-10.4)", "3-3 6.9 (4.1-15.2)",
                       "4-4 13.5 (9.9-27.1)"],
            "rules": [],
        },
    },
    # §4.1 Lung-molGPA: BM > 4 / 1-4 -> 0 / 0.5; EGFR or ALK positive 1, negative or unknown 0
    # (adenocarcinoma only; non-adenocarcinoma range 0-3.0 with three groups)
    "lung_molgpa_2017": {
        "adenocarcinoma": {
            "score": "0-4",
            "factors": {"age(age)": _MOL_AGE, "kps(kps)": _MOL_KPS, "ecm(ecm)": _ECM_0_1,
                        "bm_count(bm_count)": [">4:0", "1-4:0.5"],
                        "egfr_alk(egfr_alk)": ["=positive:1", "=negative:0", "=unknown:0"]},
            "groups": ["0-1 6.9 (2.6-15.3)", "1.5-2 13.7 (5.5-24.6)", "2.5-3 26.5 (10.7-53.8)",
                       "3.5-4 46.8 (25.8-nr)"],
            "rules": [],
        },
        "non_adenocarcinoma": {
            "score": "0-3",
            "factors": {"age(age)": _MOL_AGE, "kps(kps)": _MOL_KPS, "ecm(ecm)": _ECM_0_1,
                        "bm_count(bm_count)": [">4:0", "1-4:0.5"]},
            "groups": ["0-1 5.3 (1.9-11.1)", "1.5-2 9.8 (3.9-20.3)", "2.5-3 12.8 (7-30.1)"],
            "rules": [],
        },
    },
    # §4.3 Melanoma-molGPA: BM > 4 / 2-4 / 1 -> 0 / 0.5 / 1; BRAF positive 0.5, neg/unknown 0
    "melanoma_molgpa_2017": {
        "melanoma": {
            "score": "0-4",
            "factors": {"age(age)": _MOL_AGE, "kps(kps)": _MOL_KPS, "ecm(ecm)": _ECM_0_1,
                        "bm_count(bm_count)": [">4:0", "2-4:0.5", "1-1:1"],
                        "braf(braf)": ["=positive:0.5", "=negative:0", "=unknown:0"]},
            "groups": ["0-1 4.9 (2.3-10.7)", "1.5-2 8.3 (3.9-18.2)", "2.5-3 15.8 (8.2-49.3)",
                       "3.5-4 34.1 (15.1-nr)"],
            "rules": [],
        },
    },
    # §4.4 Breast GPA 2020: KPS <= 60 / 70-80 / 90-100 -> 0 / 0.5 / 1; subtype basal 0,
    # luminal A 0.5, HER2 or luminal B 1.5; age >= 60 / < 60 -> 0 / 0.5; BM > 1 / 1 -> 0 / 0.5;
    # ECM present / absent -> 0 / 0.5; decision 5: lowest group 6.0 months
    "breast_gpa_2020": {
        "breast": {
            "score": "0-4",
            "factors": {"kps(kps)": ["<=60:0", "70-80:0.5", ">=90:1"],
                        "subtype(breast_subtype)": ["=basal:0", "=luminal_a:0.5",
                                                    "=her2|luminal_b:1.5"],
                        "age(age)": [">=60:0", "<60:0.5"],
                        "bm_count(bm_count)": [">1:0", "1-1:0.5"],
                        "ecm(ecm)": _ECM_0_05},
            "groups": ["0-1 6 (2.5-12.3)", "1.5-2 12.9 (5.6-27)", "2.5-3 23.5 (11.1-47)",
                       "3.5-4 36.3 (18.5-78.1)"],
            "rules": [],
        },
    },
    # §4.5 GI GPA 2019: KPS < 80 / 80 / 90-100 -> 0 / 1 / 2; age >= 60 / < 60 -> 0 / 0.5;
    # BM > 3 / 2-3 / 1 -> 0 / 0.5 / 1; ECM 0 / 0.5
    "gi_gpa_2019": {
        "gi": {
            "score": "0-4",
            "factors": {"kps(kps)": ["<80:0", "80-80:1", ">=90:2"],
                        "age(age)": [">=60:0", "<60:0.5"],
                        "bm_count(bm_count)": [">3:0", "2-3:0.5", "1-1:1"],
                        "ecm(ecm)": _ECM_0_05},
            "groups": ["0-1 3.4 (1.6-8.3)", "1.5-2 6.5 (2.7-16.9)", "2.5-3 10.8 (4.2-21.4)",
                       "3.5-4 17 (8.8-29.7)"],
            "rules": [],
        },
    },
    # §4.6 Renal GPA 2018: KPS < 80 / 80 / 90-100 -> 0 / 1 / 2; ECM 0 / 0.5; haemoglobin
    # <= 11.1 / 11.2-12.5 or unknown / >= 12.6 -> 0 / 0.5 / 1; BM >= 5 / 1-4 -> 0 / 0.5
    "renal_gpa_2018": {
        "renal": {
            "score": "0-4",
            "factors": {"kps(kps)": ["<80:0", "80-80:1", ">=90:2"],
                        "ecm(ecm)": _ECM_0_05,
                        "hemoglobin(hb_tenth)": ["<=11.1:0", "11.2-12.5:0.5", ">=12.6:1", "?:0.5"],
                        "bm_count(bm_count)": [">=5:0", "1-4:0.5"]},
            "groups": ["0-1 4 (2-8)", "1.5-2 12 (5-24)", "2.5-3 17 (8-36)", "3.5-4 35 (13-61)"],
            "rules": [],
        },
    },
    # §6 BSBM: KPS < 80 / >= 80 -> 0 / 1 (KPS < 50 scored 0 with a warning); controlled no/yes
    # 0 / 1; ECM present/absent 0 / 1; Lorenzoni 1.9 / 3.3 / 13.1 / not reached, Devriendt
    # update about 3 / 6 / 12 / 23 shown beside them
    "bsbm": {
        "all": {
            "score": "0-3",
            "factors": {"kps(kps)": ["<50:0", "<80:0", ">=80:1"],
                        "controlled(controlled)": ["=false:0", "=true:1"],
                        "ecm(ecm)": _ECM_0_1},
            "groups": ["0-0 1.9 (nr-nr) alt=3", "1-1 3.3 (nr-nr) alt=6",
                       "2-2 13.1 (nr-nr) alt=12", "3-3 nr (nr-nr) alt=23"],
            "rules": [],
        },
    },
    # §7 LabBM: CRP 1, LDH 1, Hb 0.5, platelets 0.5, albumin 0.5 (range 0-3.5);
    # tiers 0-1 / 1.5-2 / 2.5-3.5; derivation survival GAP (no median)
    "labbm": {
        "all": {
            "score": "0-3.5",
            "factors": {"crp_above_uln(crp_high)": ["=true:1", "=false:0"],
                        "ldh_above_uln(ldh_high)": ["=true:1", "=false:0"],
                        "hemoglobin_below_lln(hb_low)": ["=true:0.5", "=false:0"],
                        "platelets_below_lln(plt_low)": ["=true:0.5", "=false:0"],
                        "albumin_below_lln(alb_low)": ["=true:0.5", "=false:0"]},
            "groups": ["0-1 nr (nr-nr)", "1.5-2 nr (nr-nr)", "2.5-3.5 nr (nr-nr)"],
            "rules": [],
        },
    },
}


def test_every_index_is_pinned():
    assert sorted(index_tables()) == sorted(EXPECTED)


@pytest.mark.parametrize("index_id", sorted(EXPECTED))
def test_index_table_matches_spec(index_id):
    assert _actual(index_id) == EXPECTED[index_id]


def test_the_pins_cover_every_number_in_the_prognosis_files(knowledge_copy):
    """Each numeric value in knowledge/data/prognosis, changed in turn (scripts/mutate_knowledge.py
    both ways), must change what the engine loads into a table that differs from EXPECTED (or
    make the table invalid): a number added to these files without a pin fails here."""
    mk, root, data = knowledge_copy.mk, knowledge_copy.root, knowledge_copy.data
    survivors = []
    try:
        for op in ("up", "down"):
            mutants = mk.find_mutants(root, ("prognosis",), op)
            assert len(mutants) > 400
            for m in mutants:
                path = data / Path(m.file).relative_to(mk.DATA_REL)
                text = path.read_text(encoding="utf-8")
                path.write_text(text[: m.start] + m.new + text[m.end:], encoding="utf-8")
                loader._load_toml_cached.cache_clear()
                try:
                    if _render(tables._parse_index(path.stem)) == EXPECTED[path.stem]:
                        survivors.append(m.label)
                except KnowledgeError:
                    pass  # the mutant makes the table invalid: loading fails loudly
                finally:
                    path.write_text(text, encoding="utf-8")
    finally:
        loader._load_toml_cached.cache_clear()
    assert survivors == []
