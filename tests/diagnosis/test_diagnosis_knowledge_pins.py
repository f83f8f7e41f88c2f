"""Every number in knowledge/data/diagnosis is pinned here, written from diagnosis.md (section in
the comment) or marked as an engineering choice; a number added, removed or changed in the data
files fails this test. References must resolve through brainmets.knowledge."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from brainmets.diagnosis import facts
from brainmets.knowledge import DATA_DIR, reference

PINNED: dict[tuple[Any, ...], float] = {
    # ---- thresholds.toml: §7.9 default threshold table
    ("thresholds", "threshold", "T1", "cutoff"): 1.7,     # §1.4 R-DWI-1 (Fertikh)
    ("thresholds", "threshold", "T1b", "cutoff"): 1.0,    # §1.4 R-DWI-2 (interpolated)
    ("thresholds", "threshold", "T2", "cutoff"): 1.37,    # §2.7 R-PWI-1 (Romano 2022)
    ("thresholds", "threshold", "T3", "cutoff"): 75.0,    # §2.7 R-PWI-2 (Romano 2022)
    ("thresholds", "threshold", "T3b", "cutoff"): 60.0,   # §2.7 R-PWI-2 "< ~60%" (interpolated)
    ("thresholds", "threshold", "T2c", "cutoff"): 1.0,    # §2.5 Romano lesional ADC < 1.0
    ("thresholds", "threshold", "T4", "cutoff"): 2.00,    # §2.6 Hoefnagels rCBV/WM
    ("thresholds", "threshold", "T5", "cutoff"): 1.85,    # §2.6 Hoefnagels rCBV/GM
    ("thresholds", "threshold", "T6", "cutoff"): 1.115,   # §3.2 peritumoral Cho/NAA
    ("thresholds", "threshold", "T7", "cutoff"): 1.18,    # §3.2 peritumoral Cho/Cr
    ("thresholds", "threshold", "T8", "cutoff"): 2.15,    # §4.2 Romagna FET TBRmax
    ("thresholds", "threshold", "T9", "cutoff"): 1.95,    # §4.2 Romagna FET TBRmean
    ("thresholds", "threshold", "T10", "cutoff"): 1.59,   # §4.2 Cicone FDOPA
    ("thresholds", "threshold", "T11", "cutoff"): 1.40,   # §4.2 MET LNR (PMC5674753)
    ("thresholds", "threshold", "T12", "cutoff"): 1.92,   # §2.4 Lin 2016 ASL gradient
    ("thresholds", "qc", "adc_nawm_range", "low"): 0.5,   # §1.4 R-DWI-3 window
    ("thresholds", "qc", "adc_nawm_range", "high"): 1.2,  # §1.4 R-DWI-3 window
    # §7.2 PSR = 100 (S_post - S_min)/(S0 - S_min): above 100 the signal passed its baseline
    ("thresholds", "qc", "psr_above_baseline", "above"): 100.0,
    # §2.3 / T13: TE 20-35 ms at 3 T, 40-50 ms at 1.5 T
    ("thresholds", "qc", "dsc_te_ms", "ranges", 0, 0): 3.0,
    ("thresholds", "qc", "dsc_te_ms", "ranges", 0, 1): 20.0,
    ("thresholds", "qc", "dsc_te_ms", "ranges", 0, 2): 35.0,
    ("thresholds", "qc", "dsc_te_ms", "ranges", 1, 0): 1.5,
    ("thresholds", "qc", "dsc_te_ms", "ranges", 1, 1): 40.0,
    ("thresholds", "qc", "dsc_te_ms", "ranges", 1, 2): 50.0,
    # §2.3 consensus: FA 60 with preload, FA 30 without
    ("thresholds", "qc", "dsc_protocol", "flip_angle_with_preload_deg"): 60.0,
    ("thresholds", "qc", "dsc_protocol", "flip_angle_without_preload_deg"): 30.0,
    # §2.6 Narloch 2017
    ("thresholds", "context", "narloch", "months"): 9.0,
    ("thresholds", "context", "narloch", "recurrence_pct_early"): 52.5,
    ("thresholds", "context", "narloch", "recurrence_pct_late"): 6.3,
    ("thresholds", "context", "narloch", "rn_only_pct"): 68.6,
    # ---- epidemiology.toml: (first source, sites) -> percent
    ("epidemiology", "DX-BARNHOLTZSLOAN2004", ("all",)): 9.6,        # §5.1 overall
    ("epidemiology", "DX-BARNHOLTZSLOAN2004", ("nsclc", "sclc")): 19.9,  # §5.1 lung
    ("epidemiology", "DX-BARNHOLTZSLOAN2004", ("melanoma",)): 6.9,
    ("epidemiology", "DX-BARNHOLTZSLOAN2004", ("renal",)): 6.5,
    ("epidemiology", "DX-BARNHOLTZSLOAN2004", ("breast",)): 5.1,
    ("epidemiology", "DX-BARNHOLTZSLOAN2004", ("gi",)): 1.8,         # colorectal
    ("epidemiology", "DX-CAGNEY2017", ("melanoma",)): 28.2,          # §5.1 Cagney 2017
    ("epidemiology", "DX-CAGNEY2017", ("nsclc",)): 26.8,             # adenocarcinoma
    ("epidemiology", "DX-CAGNEY2017", ("sclc",)): 23.5,
    ("epidemiology", "DX-CAGNEY2017", ("renal",)): 10.8,
    ("epidemiology", "DX-KROMER2017", ("nsclc", "sclc")): 10.8,      # §5.1 Kromer 2017
    ("epidemiology", "DX-KROMER2017", ("renal",)): 1.4,
    ("epidemiology", "DX-KROMER2017", ("melanoma",)): 1.2,
    ("epidemiology", "DX-PARKER2023", ("all",)): 1.9,                # §5.1 Parker 2023
    ("epidemiology", "DX-HABBOUS2020", ("all",)): 4.2,               # §5.1 Habbous 2020
    # ---- processing.toml: engineering choices (spec §7.1, §7.2 where noted)
    ("processing", "roi", "rim_mm"): 2.0,                 # engineering
    ("processing", "roi", "peritumoral_mm"): 5.0,         # §2.5 Romano: <= 5 mm
    ("processing", "roi", "nawm_margin_mm"): 10.0,        # engineering
    ("processing", "roi", "nawm_fraction"): 0.25,         # engineering
    ("processing", "roi", "brain_fraction"): 0.10,        # engineering
    ("processing", "roi", "hot_spot_inplane_voxels"): 3,  # engineering (ROI size not captured)
    ("processing", "dwi", "b0_threshold"): 50.0,          # §7.1 dipy default
    ("processing", "dwi", "perfusion_b_threshold"): 200.0,  # §1.1 osipy b_threshold
    ("processing", "dwi", "adc_valid_max"): 4.0,          # §7.1 step 4 bound
    ("processing", "dsc", "skip_frames"): 1,              # engineering
    ("processing", "dsc", "arrival_fraction"): 0.10,      # engineering
    ("processing", "dsc", "min_baseline_frames"): 3,      # engineering
    ("processing", "dsc", "first_pass_end_fraction"): 0.10,  # engineering
    ("processing", "dsc", "psr_tail_frames"): 5,          # engineering
}


def _walk(x: Any, path: tuple[Any, ...]):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _walk(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _walk(v, (*path, i))
    elif isinstance(x, int | float) and not isinstance(x, bool):
        yield path, x


def _numbers() -> dict[tuple[Any, ...], float]:
    out: dict[tuple[Any, ...], float] = {}
    for name in ("thresholds", "epidemiology", "discordance", "processing"):
        data = tomllib.loads((DATA_DIR / "diagnosis" / f"{name}.toml").read_text())
        for path, value in _walk(data, ()):
            if path[0] == "threshold":
                path = ("threshold", data["threshold"][path[1]]["id"], *path[2:])
            elif name == "epidemiology":
                row = data[path[0]][path[1]]
                assert path[0] == "incidence" and path[2:] == ("percent",), path
                path = (row["sources"][0], tuple(row["sites"]))
            key = (name, *path)
            assert key not in out, key
            out[key] = value
    return out


def test_every_number_is_pinned() -> None:
    found = _numbers()
    assert set(found) == set(PINNED), (set(found) ^ set(PINNED))
    for key, want in PINNED.items():
        assert found[key] == pytest.approx(want), key


def test_every_source_resolves_and_interpolated_cutoffs_say_so() -> None:
    kb = facts.thresholds()
    for t in kb["threshold"].values():
        for ref in t["sources"]:
            assert reference(ref).citation
    assert {tid for tid, t in kb["threshold"].items() if t["confidence"] == "interpolated"} \
        == {"T1b", "T3b"}  # §1.4 R-DWI-2 and §2.7 R-PWI-2: "not a published threshold"
    for section in ("incidence", "peak_age", "screening", "general", "unconfirmed"):
        for row in facts.epidemiology()[section]:
            assert row["sources"] and all(reference(r).citation for r in row["sources"])


def test_each_rule_declares_its_question_and_population() -> None:
    kb = facts.thresholds()["threshold"]
    # §2.5 (untreated solitary lesion), §2.6 (after SRS), §1.3.1 (ring-enhancing, abscess)
    want = {"T1": "abscess", "T1b": "abscess", "T2": "glioblastoma_vs_metastasis",
            "T3": "glioblastoma_vs_metastasis", "T3b": "glioblastoma_vs_metastasis",
            "T2c": "glioblastoma_vs_metastasis", "T6": "glioblastoma_vs_metastasis",
            "T7": "glioblastoma_vs_metastasis", "T12": "glioblastoma_vs_metastasis",
            "T4": "recurrence_vs_necrosis", "T5": "recurrence_vs_necrosis",
            "T8": "recurrence_vs_necrosis", "T9": "recurrence_vs_necrosis",
            "T10": "recurrence_vs_necrosis", "T11": "recurrence_vs_necrosis"}
    assert {tid: t["question_id"] for tid, t in kb.items()} == want
    for t in kb.values():
        assert t["applies_to"] == ("irradiated" if t["question_id"] == "recurrence_vs_necrosis"
                                   else "untreated_undiagnosed")
