"""brainmets: offline, evidence-traceable decision support for adult brain metastases.

Not a medical device. Public Python API::

    import brainmets
    a = brainmets.assess({"age": 62, "kps": 80, ...})   # -> brainmets.model.Assessment
    c = brainmets.assess_case(record, scans=[...])      # -> brainmets.case.Case (record + MRI)
    table = brainmets.score(table)   # -> same kind of table, index columns added
"""

from __future__ import annotations

from typing import Any

from brainmets._version import __version__

__all__ = ["__version__", "assess", "assess_case", "score"]


def assess(patient: Any):  # noqa: ANN201 - see brainmets.assessment.assess
    """Assess one patient (a :class:`brainmets.model.Patient` or a CONTRACT §1 dict)."""
    from brainmets.assessment import assess as _assess

    return _assess(patient)


def assess_case(record: Any, *args: Any, **kwargs: Any):  # noqa: ANN201 - see brainmets.case
    """Compose one case (record + scans + time points + review): the one composer."""
    from brainmets.case import assess_case as _assess_case

    return _assess_case(record, *args, **kwargs)


def score(table: Any):  # noqa: ANN201 - see brainmets.prognosis.vectorized.score_table
    """Score a table of flattened patients with every index, vectorised."""
    from brainmets.prognosis.vectorized import score_table

    return score_table(table)
