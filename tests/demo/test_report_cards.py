"""The tumour-board report shows each systemic option's evidence card, with its citations."""

import json

from brainmets.assessment import assess
from brainmets.examples import EXAMPLE_PATIENT
from brainmets.report.context import standalone_context
from brainmets.report.pdf import render_html


def test_report_shows_drug_cards_and_their_citations():
    record = json.loads(EXAMPLE_PATIENT.read_text())
    a = assess(record)
    osi = next(o for o in a.options if o.id == "osimertinib")
    html = render_html(standalone_context(record, a))
    assert 'data-card="osimertinib"' in html
    for line in osi.card["summary_lines"]:
        assert line.split(":")[0] in html
    ctx = standalone_context(record, a)
    cited = {c["id"]: c["citation"] for c in ctx["citations"]}
    assert "FLAURA-CNS-18" in cited and "Reungwetwattana" in cited["FLAURA-CNS-18"]


def test_report_scan_heading_has_no_empty_day():
    record = json.loads(EXAMPLE_PATIENT.read_text())
    scan = {"lesions": [{"id": 1, "volume_ml": 0.5, "location": "cerebellum"}]}
    html = render_html(standalone_context(record, assess(record), scan))
    assert "(scan)" in html  # no date and no day: nothing dangling in the heading
    assert ", day" not in html.split('id="lesions-h"')[1].split("</h2>")[0]
