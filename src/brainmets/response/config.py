"""RANO-BM thresholds and options, read from ``knowledge/data/response/rano_bm.toml``."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from brainmets.knowledge import KnowledgeError, load_toml, require_refs

DATA_FILE = "response/rano_bm.toml"

_THRESHOLDS = (
    "measurable_min_longest_diameter_mm",
    "measurable_min_perpendicular_mm",
    "max_target_lesions",
    "pr_min_decrease_vs_baseline",
    "pd_min_increase_vs_nadir",
    "pd_min_absolute_increase_mm",
    "confirmation_min_days",
    "irano_window_months",
    "recist_small_lesion_default_mm",
)
_OPTIONS = (
    "small_lesion_rule",
    "absolute_increase_reference",
    "steroid_reference",
    "volumetric_criteria",
    "irano_confirmation",
)


def exact(x: float | int) -> Fraction:
    """Exact value of a decimal as written (``4.9`` -> 49/10), so boundaries compare exactly."""
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


@dataclass(frozen=True)
class Threshold:
    key: str
    value: float | int
    source: str
    spec: str
    text: str


@dataclass(frozen=True)
class OptionSpec:
    key: str
    default: str
    allowed: tuple[str, ...]
    uncertain: bool
    source: str
    spec: str
    text: str


@dataclass(frozen=True)
class ResponseConfig:
    """Thresholds (cited) plus the chosen reading of each uncertain point."""

    thresholds: dict[str, Threshold]
    option_specs: dict[str, OptionSpec]
    options: dict[str, str]
    source_label: str
    match_max_distance_mm: float
    extra: dict[str, Any] = field(default_factory=dict)

    def t(self, key: str) -> Fraction:
        """Threshold value as an exact fraction."""
        return exact(self.thresholds[key].value)

    def ti(self, key: str) -> int:
        return int(self.thresholds[key].value)

    def opt(self, key: str) -> str:
        return self.options[key]

    def with_options(self, **overrides: str) -> ResponseConfig:
        """A copy with some options changed; unknown keys or values raise ValueError."""
        opts = dict(self.options)
        for key, value in overrides.items():
            if key not in self.option_specs:
                known = ", ".join(sorted(self.option_specs))
                raise ValueError(f"unknown response option {key!r}; known: {known}")
            allowed = self.option_specs[key].allowed
            if value not in allowed:
                raise ValueError(f"option {key}: expected {'|'.join(allowed)}, got {value!r}")
            opts[key] = value
        return replace(self, options=opts)

    def non_default_options(self) -> dict[str, str]:
        return {k: v for k, v in self.options.items() if v != self.option_specs[k].default}

    def as_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {
                k: {"value": t.value, "source": t.source, "spec": t.spec}
                for k, t in self.thresholds.items()
            },
            "options": dict(self.options),
        }


@functools.cache
def default_config() -> ResponseConfig:
    """Load and validate the data file once (a malformed file fails loudly)."""
    data = load_toml(DATA_FILE)
    thr_raw = data.get("threshold", {})
    opt_raw = data.get("option", {})
    thresholds: dict[str, Threshold] = {}
    for key in _THRESHOLDS:
        row = thr_raw.get(key)
        if not isinstance(row, dict) or not isinstance(row.get("value"), (int, float)):
            raise KnowledgeError(f"{DATA_FILE}: threshold.{key} with a numeric value is required")
        thresholds[key] = Threshold(
            key, row["value"], str(row.get("source", "")), str(row.get("spec", "")),
            str(row.get("text", "")),
        )
    specs: dict[str, OptionSpec] = {}
    for key in _OPTIONS:
        row = opt_raw.get(key)
        if not isinstance(row, dict) or row.get("default") not in row.get("allowed", []):
            raise KnowledgeError(f"{DATA_FILE}: option.{key} needs default within allowed")
        specs[key] = OptionSpec(
            key, row["default"], tuple(row["allowed"]), bool(row.get("uncertain", False)),
            str(row.get("source", "")), str(row.get("spec", "")), str(row.get("text", "")),
        )
    require_refs(
        [t.source for t in thresholds.values()] + [o.source for o in specs.values()], DATA_FILE
    )
    tracking = data.get("tracking", {})
    gate = tracking.get("match_max_distance_mm")
    if not isinstance(gate, (int, float)) or gate <= 0:
        raise KnowledgeError(f"{DATA_FILE}: tracking.match_max_distance_mm must be > 0")
    return ResponseConfig(
        thresholds=thresholds,
        option_specs=specs,
        options={k: s.default for k, s in specs.items()},
        source_label=str(data.get("source_label", "RANO-BM, Lin 2015")),
        match_max_distance_mm=float(gate),
    )


def get_config(config: ResponseConfig | dict[str, str] | None = None) -> ResponseConfig:
    """``None`` -> defaults; a dict -> defaults with those options overridden."""
    if config is None:
        return default_config()
    if isinstance(config, ResponseConfig):
        return config
    return default_config().with_options(**config)
