"""Drug evidence cards: every card validates, options carry the right card, UNCERTAIN shows."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.knowledge import reference
from brainmets.treatment import cards

CONF_OK = ("H", "M", "L", "UNCERTAIN")


@pytest.mark.parametrize("cid", cards.card_ids())
def test_card_loads_and_every_number_is_cited(cid):
    c = cards.get_card(cid)
    assert c["target"] and c["mechanism"] and c["caption"] == cards.CAPTION
    assert c["ranked"] is False and c["summary_lines"][-1] == cards.CAPTION
    for t in c["trials"]:
        assert t["citations"]
        for n in t["numbers"]:
            assert n["citations"], (cid, n["label"])
            for ref in n["citations"]:
                assert reference(ref).citation
            if n["status"] == "reported":
                assert n["value"] and n["confidence"][0] in "HML", (cid, n)
            elif n["status"] == "uncertain":
                assert n["value"] is None and n["confidence"] == "UNCERTAIN"
                assert n["display"].startswith("UNCERTAIN")
    assert set(c["citations"]) >= {r for t in c["trials"] for r in t["citations"]}


def test_all_spec_records_present():
    ids = set(cards.card_ids())
    assert ids >= {"osimertinib", "icotinib", "alectinib", "brigatinib", "ceritinib",
                   "lorlatinib", "pembrolizumab_pemetrexed_platinum", "ipilimumab_nivolumab",
                   "dabrafenib_trametinib", "encorafenib_binimetinib",
                   "tucatinib_trastuzumab_capecitabine", "trastuzumab_deruxtecan",
                   "platinum_etoposide_ici", "capecitabine", "temozolomide", "bevacizumab"}


def test_spec_corrections_respected():
    cm = cards.get_card("ipilimumab_nivolumab")
    nums = [n for t in cm["trials"] for n in t["numbers"]]
    cbr = [n for n in nums if "57%" in (n["value"] or "")]
    assert cbr and cbr[0]["field"] == "cbr" and "CLINICAL BENEFIT" in cbr[0]["label"]
    assert not any(n["field"] == "iorr" and "57%" in (n["value"] or "") for n in nums)
    bev = cards.get_card("bevacizumab")
    assert bev["role"] == "supportive"
    assert any("extrapolation" in f for f in bev["flags"])
    assert "NOT brain metastases" in bev["trials"][0]["population"]


def test_temozolomide_is_negative_example_never_option(run):
    tmz = cards.get_card("temozolomide")
    assert tmz["role"] == "negative_example" and tmz["option_ids"] == []
    assert "RTOG0320" in tmz["citations"]
    r = run()
    assert "temozolomide" not in r.ids
    assert {"ASCO22", "RTOG0320"} <= {s.id for s in r.nr["temozolomide"].sources}


CARD_CASES = [
    ("V1", {"primary": {"egfr": "positive"}, "brain_metastases": {"count": 3}}, (6, 9, 12),
     {"osimertinib": "osimertinib", "icotinib": "icotinib"}),
    ("V2", {"primary": {"alk": "positive"}}, (8, 14),
     {"alectinib": "alectinib", "brigatinib": "brigatinib", "ceritinib": "ceritinib"}),
    ("V3", {"kps": 80, "primary": {"pdl1_tps": 60},
            "therapy": {"planned_pemetrexed_platinum": True}}, (10, 15),
     {"pembrolizumab_pemetrexed_platinum": "pembrolizumab_pemetrexed_platinum",
      "immune_checkpoint_inhibitor": "pembrolizumab"}),
    ("V4", {"primary": {"site": "melanoma", "histology": None, "braf": "positive", "egfr": None,
                        "alk": None, "ros1": None}, "brain_metastases": {"count": 3}},
     (8, 10, 12), {"ipilimumab_nivolumab": "ipilimumab_nivolumab",
                   "dabrafenib_trametinib": "dabrafenib_trametinib"}),
    ("V5", {"primary": {"site": "melanoma", "histology": None, "braf": "positive", "egfr": None,
                        "alk": None, "ros1": None}, "brain_metastases": {"count": 4},
            "symptoms": {"status": "symptomatic"}, "therapy": {"dexamethasone_mg_day": 8}},
     (25, 10, 8, 6), {"dabrafenib_trametinib": "dabrafenib_trametinib"}),
    ("V6", {"kps": 80, "primary": {"site": "breast", "histology": None, "her2": "positive",
                                   "egfr": None, "alk": None, "ros1": None},
            "brain_metastases": {"count": 4},
            "therapy": {"prior_her2_therapies": ["trastuzumab", "pertuzumab", "t-dm1"]}},
     (15, 12, 9, 6),
     {"tucatinib_trastuzumab_capecitabine": "tucatinib_trastuzumab_capecitabine"}),
]


@pytest.mark.parametrize("name,over,diams,expected", CARD_CASES, ids=[c[0] for c in CARD_CASES])
def test_vignette_options_carry_cards(name, over, diams, expected, run, mk_lesions):
    r = run(over, replace_lesions=mk_lesions(*diams))
    systemic = [o for o in r.options if o.kind == "systemic"]
    assert {o.id for o in systemic} == set(expected)
    for o in systemic:
        assert o.card is not None and o.card["id"] == expected[o.id]
        lines = o.card["summary_lines"]
        assert lines[0].startswith(o.card["name"]) and "target" in lines[0]
        assert any(line.startswith("BBB") for line in lines)
        assert lines[-1] == cards.CAPTION
    for o in r.options:
        if o.kind != "systemic":
            assert o.card is None


def test_options_not_ranked_by_card_numbers(run, mk_lesions):
    r = run({"primary": {"alk": "positive"}}, replace_lesions=mk_lesions(8, 14))
    assert [o.id for o in r.options if o.kind == "systemic"] == [
        "alectinib", "brigatinib", "ceritinib"]  # the guideline's order, never by iORR


def test_uncertain_number_in_json_and_text(run, mk_lesions):
    r = run({"kps": 80, "primary": {"site": "breast", "histology": None, "her2": "positive",
                                    "egfr": None, "alk": None, "ros1": None},
             "therapy": {"prior_her2_therapies": ["trastuzumab"]}},
            replace_lesions=mk_lesions(10, 12))
    card = r.by_id["tucatinib_trastuzumab_capecitabine"].card
    data = json.loads(json.dumps(card))
    hr = [n for t in data["trials"] for n in t["numbers"] if n["label"] == "CNS-PFS HR, all BM"]
    assert hr[0]["value"] is None and hr[0]["confidence"] == "UNCERTAIN"
    assert "0.32" not in json.dumps(card)          # the unverified HR never ships
    assert any("CNS-PFS HR, all BM: UNCERTAIN - pending verification" in line
               for line in card["summary_lines"])
    assert any(u["item"] == "CNS-PFS HR, all BM" for u in data["uncertain"])
    text = CliRunner().invoke(app, ["drug", "tucatinib"]).output
    assert "CNS-PFS HR, all BM: UNCERTAIN - pending verification" in text
    js = json.loads(CliRunner().invoke(app, ["drug", "tucatinib", "--format", "json"]).output)
    assert js["uncertain"] and js["uncertain"][0]["status"].startswith("UNCERTAIN")


def test_drug_cli():
    res = CliRunner().invoke(app, ["drug", "osimertinib"])
    assert res.exit_code == 0
    assert "Target: EGFR" in res.output and "FLAURA" in res.output and "BBB" in res.output
    assert cards.CAPTION in res.output
    res = CliRunner().invoke(app, ["drug", "--list", "--format", "json"])
    ids = [c["id"] for c in json.loads(res.output)]
    assert ids == cards.card_ids()
    res = CliRunner().invoke(app, ["drug", "aspirin"])
    assert res.exit_code == 2 and "no evidence card" in res.output


def test_docs_list_every_rule():
    from pathlib import Path

    from brainmets.treatment.rules import rules

    doc = (Path(__file__).resolve().parents[2] / "docs" / "treatment-rules.md").read_text()
    missing = [r.name for r in rules() if f"| {r.name} |" not in doc]
    assert not missing, f"docs/treatment-rules.md lacks: {missing}"
