"""Bundled example inputs (synthetic, not real patients)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
EXAMPLE_PATIENT = EXAMPLES_DIR / "example_patient.json"
