"""The guideline rules, one module per guideline section (treatment.md §1-§5).

* :mod:`.asco22` ASCO-SNO-ASTRO 2022 R1-R4 (R2.1/R2.2 in :mod:`.timing`)
* :mod:`.astro22` ASTRO 2022 KQ1-KQ4
* :mod:`.eano21` EANO-ESMO 2021 rows (and the driver-targeted option of decision 2)
* :mod:`.cns25` CNS 2025 LITT / craniotomy after SRS
* :mod:`.supportive` steroids, antiseizure drugs, palliative care, follow-up

Each module gives its rules by evaluation phase; :func:`rules` runs the phases in order (a rule
may read what earlier phases listed, e.g. memantine needs WBRT; the R3.1 veto comes first).
"""

from __future__ import annotations

import functools

from brainmets.treatment.engine import Rule
from brainmets.treatment.rules import asco22, astro22, cns25, eano21, supportive

PHASES = ("veto", "surgery", "cavity", "srs", "wbrt", "ha", "post_srs", "systemic", "never",
          "supportive", "followup")
MODULES = (asco22, astro22, eano21, cns25, supportive)


@functools.cache
def rules() -> list[Rule]:
    """Every rule, phase by phase; within a phase, section by section."""
    out: list[Rule] = []
    for phase in PHASES:
        for mod in MODULES:
            out.extend(mod.phases().get(phase, []))
    return out
