"""Systemic-drug evidence cards (``knowledge/data/drugs/*.toml``; systemic.md).

Every number carries its trial, citation ids and a confidence tag (H / M / L, ranges such as
"M-H", or UNCERTAIN). UNCERTAIN numbers never show a value: they are shown as "UNCERTAIN -
pending verification" with what the sources say (systemic.md §4.6). Options are never ranked
by these numbers.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from brainmets.knowledge import KnowledgeError, load_toml, reference, require_refs
from brainmets.treatment.kb import drug_files

CAPTION = ("Figures come from different trials with different populations, comparators and "
           "endpoints; they are not comparable across options.")
BBB_NOTE = ("BBB data are surrogates (CSF, brain tissue or preclinical): brain metastases often "
            "have a disrupted blood-tumour barrier; penetration is neither necessary nor "
            "sufficient for benefit.")
PENDING = "UNCERTAIN - pending verification"
STATUSES = {"reported", "uncertain", "not_reported", "not_found"}
STATUS_TEXT = {"not_reported": "not reported by the trial",
               "not_found": "not found in the tool's sources"}
_CONF = re.compile(r"^(H|M|L)(-(H|M|L))?( \(.*\))?( / (H|M|L)( \(.*\))?)?$|^UNCERTAIN$")
ROLES = {"option", "reference_only", "negative_example", "supportive"}


def _validate(card: dict[str, Any], where: str) -> dict[str, Any]:
    for key in ("id", "name", "role", "target", "mechanism", "listing"):
        if not isinstance(card.get(key), str) or not card[key]:
            raise KnowledgeError(f"{where}: '{key}' is required")
    if card["role"] not in ROLES:
        raise KnowledgeError(f"{where}: role must be one of {sorted(ROLES)}")
    ids: list[str] = []
    for t in card.get("trial", []):
        if not t.get("citations"):
            raise KnowledgeError(f"{where}: trial {t.get('name')!r} has no citations")
        ids += t["citations"]
        for n in t.get("number", []):
            n.setdefault("status", "reported")
            n.setdefault("citations", list(t["citations"]))
            ids += n["citations"]
            label = f"{where}: {t['name']} / {n.get('label')}"
            if n["status"] not in STATUSES:
                raise KnowledgeError(f"{label}: status must be one of {sorted(STATUSES)}")
            if n["status"] == "reported":
                if not n.get("value"):
                    raise KnowledgeError(f"{label}: a reported number needs a value")
                if not _CONF.match(str(n.get("confidence", ""))) or n["confidence"] == "UNCERTAIN":
                    raise KnowledgeError(f"{label}: confidence H/M/L required, got "
                                         f"{n.get('confidence')!r}")
            elif n["status"] == "uncertain":
                if n.get("value"):
                    raise KnowledgeError(f"{label}: an UNCERTAIN number must not carry a value")
                n["confidence"] = "UNCERTAIN"
    bbb = card.get("bbb") or {}
    ids += bbb.get("citations", [])
    if bbb.get("citations") and not _CONF.match(str(bbb.get("confidence", ""))):
        raise KnowledgeError(f"{where}: bbb confidence required")
    require_refs(ids, where)
    card["_citation_ids"] = list(dict.fromkeys(ids))
    return card


@functools.cache
def _cards() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rel in drug_files():
        card = _validate(load_toml(rel), f"knowledge/data/{rel}")
        if card["id"] in out:
            raise KnowledgeError(f"knowledge/data/{rel}: duplicate card id {card['id']!r}")
        out[card["id"]] = card
    return out


def card_ids() -> list[str]:
    return sorted(_cards())


def _find(name: str) -> dict[str, Any] | None:
    key = name.strip().lower().replace("-", "_").replace(" ", "_").replace("+", "_")
    key = re.sub(r"_+", "_", key)
    cards = _cards()
    if key in cards:
        return cards[key]
    for c in cards.values():
        if key in c.get("option_ids", []):
            return c
    for c in cards.values():  # a component name, e.g. "tucatinib" or "nivolumab"
        if key and key in c["id"].split("_"):
            return c
    return None


def uncertain_items(card: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for t in card.get("trial", []):
        for n in t.get("number", []):
            if n["status"] == "uncertain":
                out.append({"trial": t["name"], "item": n["label"], "status": PENDING,
                            "detail": n.get("detail", "")})
    for u in card.get("uncertain", []):
        out.append({"trial": "", "item": u["item"], "status": PENDING,
                    "detail": u.get("detail", "")})
    return out


def summary_lines(card: dict[str, Any]) -> list[str]:
    """The lines text output prints for an option: mechanism, CNS evidence, BBB, caption."""
    lines = [f"{card['name']}: target {card['target']}; {card['mechanism']}."]
    for flag in card.get("flags", []):
        lines.append(f"Note: {flag}")
    for t in card.get("trial", [])[:2]:
        parts = []
        for n in t.get("number", []):
            if n["field"] not in ("iorr", "cbr", "cns_pfs", "hr"):
                continue
            if n["status"] == "reported":
                parts.append(f"{n['label']}: {n['value']} [{n['confidence']}]")
            elif n["status"] == "uncertain":
                parts.append(f"{n['label']}: {PENDING}")
            else:
                parts.append(f"{n['label']}: {STATUS_TEXT[n['status']]}")
        if parts:
            lines.append(f"{t['name']} ({', '.join(t['citations'])}): " + "; ".join(parts))
    for u in card.get("uncertain", []):
        lines.append(f"{u['item']}: {PENDING}")
    bbb = card.get("bbb") or {}
    if bbb:
        conf = f" [{bbb['confidence']}]" if bbb.get("confidence") else ""
        lines.append(f"BBB ({bbb.get('evidence', 'n/a')}): {bbb['text']}{conf}")
    lines.append(CAPTION)
    return lines


def public(card: dict[str, Any]) -> dict[str, Any]:
    """JSON form of a card (structured fields + summary_lines + formatted citations)."""
    trials = []
    for t in card.get("trial", []):
        nums = []
        for n in t.get("number", []):
            item = {"field": n["field"], "label": n["label"], "status": n["status"],
                    "confidence": n.get("confidence"), "citations": n["citations"]}
            if n["status"] == "reported":
                item["value"] = n["value"]
            elif n["status"] == "uncertain":
                item["value"] = None
                item["display"] = PENDING
                item["detail"] = n.get("detail", "")
            else:
                item["value"] = None
                item["display"] = STATUS_TEXT[n["status"]]
            nums.append(item)
        trials.append({"name": t["name"], "design": t["design"], "population": t["population"],
                       "citations": t["citations"], "numbers": nums})
    return {
        "id": card["id"], "name": card["name"], "role": card["role"],
        "option_ids": card.get("option_ids", []), "target": card["target"],
        "mechanism": card["mechanism"], "mechanism_confidence": card.get("mechanism_confidence"),
        "listing": card["listing"], "flags": card.get("flags", []), "trials": trials,
        "bbb": card.get("bbb"), "bbb_caveat": BBB_NOTE, "uncertain": uncertain_items(card),
        "overall_confidence": card.get("overall_confidence"),
        "citations": {i: reference(i).citation for i in card["_citation_ids"]},
        "caption": CAPTION, "ranked": False, "summary_lines": summary_lines(card),
    }


def get_card(name: str) -> dict[str, Any] | None:
    """Card by id, option id or component drug name (None if unknown)."""
    c = _find(name)
    return public(c) if c else None


def option_card(option_id: str) -> dict[str, Any] | None:
    """The card an option carries (by its option id)."""
    for c in _cards().values():
        if option_id in c.get("option_ids", []):
            return public(c)
    return None


def render_text(card: dict[str, Any]) -> str:
    """Full text card for ``brainmets drug NAME``."""
    out = [f"{card['name']}  [{card['role'].replace('_', ' ')}]",
           f"Target: {card['target']}",
           f"Mechanism: {card['mechanism']} [{card.get('mechanism_confidence') or '-'}]",
           f"Listed for: {card['listing']}"]
    out += [f"Note: {f}" for f in card["flags"]]
    for t in card["trials"]:
        out.append(f"\n{t['name']} ({', '.join(t['citations'])})")
        out.append(f"  design: {t['design']}")
        out.append(f"  population: {t['population']}")
        for n in t["numbers"]:
            if n["status"] == "reported":
                out.append(f"  - {n['label']}: {n['value']} [{n['confidence']}]")
            elif n["status"] == "uncertain":
                out.append(f"  - {n['label']}: {PENDING} ({n['detail']})")
            else:
                out.append(f"  - {n['label']}: {n['display']}")
    for u in card["uncertain"]:
        if not u["trial"]:
            out.append(f"\n{u['item']}: {PENDING} ({u['detail']})")
    if card.get("bbb"):
        b = card["bbb"]
        conf = f" [{b['confidence']}]" if b.get("confidence") else ""
        out.append(f"\nBBB ({b.get('evidence', 'n/a')}): {b['text']}{conf}")
        out.append(f"  {card['bbb_caveat']}")
    if card.get("overall_confidence"):
        out.append(f"\nOverall confidence: {card['overall_confidence']}")
    out.append("\nSources:")
    out += [f"  [{i}] {c}" for i, c in card["citations"].items()]
    out.append(f"\n{card['caption']}")
    return "\n".join(out)
