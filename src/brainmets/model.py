"""Domain model: the patient record (CONTRACT §1) and the assessment (CONTRACT §2).

Validation errors name the field path and the allowed values; see :func:`format_errors`.
Unknown fields are kept (``extra="allow"``) but reported back as warnings so a typo such as
``"kps_score"`` never passes silently.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from brainmets.errors import BrainmetsError

Status = Literal["positive", "negative", "unknown"]
PrimarySite = Literal["nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other", "unknown"]
NsclcHistology = Literal["adenocarcinoma", "squamous", "other"]
Location = Literal["supratentorial", "cerebellum", "brainstem"]
SymptomStatus = Literal["asymptomatic", "mild_controlled", "symptomatic"]
Confidence = Literal["confirmed", "single_source", "uncertain"]
OptionKind = Literal["local", "systemic", "supportive"]
EgfrVariant = Literal["common", "exon20_insertion", "other", "unknown"]
RadiationModality = Literal["srs", "fsrt", "wbrt", "ha_wbrt", "surgery", "litt"]

DISCLAIMER = (
    "brainmets is decision support for qualified clinicians, not a medical device. "
    "It lists guideline-based options with their sources; it does not make treatment decisions. "
    "Every estimate is a population median from the cited study, not a prediction for this patient."
)


class _Record(BaseModel):
    """Input records: strict types, unknown keys kept and reported (see ``unknown_fields``)."""

    model_config = ConfigDict(extra="allow", strict=False, validate_assignment=True)

    def unknown_fields(self, prefix: str = "") -> list[str]:
        out = [f"{prefix}{k}" for k in (self.model_extra or {})]
        for name in type(self).model_fields:
            value = getattr(self, name)
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if isinstance(item, _Record):
                    sub = f"{prefix}{name}[{i}]." if isinstance(value, list) else f"{prefix}{name}."
                    out.extend(item.unknown_fields(sub))
        return out


class Markers(_Record):
    """Tumour markers; on the primary (:class:`Primary`) or on the brain metastasis."""

    egfr: Status | None = None
    alk: Status | None = None
    ros1: Status | None = None
    braf: Status | None = Field(default=None, description="positive means BRAF V600 mutant")
    er: Status | None = None
    pr: Status | None = None
    her2: Status | None = None
    pdl1_tps: float | None = Field(default=None, ge=0, le=100, description="PD-L1 TPS, percent")
    # added after the clinical review (CONTRACT §1): absent means unknown, never negative
    egfr_variant: EgfrVariant | None = Field(
        default=None, description="common (exon 19 del / L858R) | exon20_insertion | other"
    )
    ret: Status | None = None
    met_ex14: Status | None = Field(default=None, description="MET exon 14 skipping")
    ntrk: Status | None = Field(default=None, description="NTRK fusion")
    kras_g12c: Status | None = None


class Primary(Markers):
    site: PrimarySite | None = None
    histology: NsclcHistology | None = Field(
        default=None, description="NSCLC histology: adenocarcinoma | squamous | other"
    )
    controlled: bool | None = Field(default=None, description="primary tumour controlled")


class Lesion(_Record):
    # optional id ("L1"): what radiation_history.lesion_ids and review decisions refer to
    id: str | None = Field(default=None, min_length=1, max_length=64)
    diameter_mm: float | None = Field(default=None, ge=0, le=300)
    volume_ml: float | None = Field(default=None, ge=0, le=2000)
    location: Location | None = None
    eloquent: bool | None = None
    mass_effect: bool | None = None
    hippocampus_distance_mm: float | None = Field(default=None, ge=0, le=300)
    resected: bool | None = None
    cavity_volume_ml: float | None = Field(default=None, ge=0, le=2000)
    # added by the imaging issue (scan output); optional for hand-entered records
    max_diameter_mm: float | None = Field(default=None, ge=0, le=300)
    perpendicular_diameter_mm: float | None = Field(default=None, ge=0, le=300)
    centroid_mm: tuple[float, float, float] | None = None
    enhancement: Literal["solid", "ring"] | None = None
    # treatment history of this lesion (LITT applies only to lesions enlarging after SRS)
    prior_srs: bool | None = None
    enlarging_after_srs: bool | None = None


class BrainMetastases(_Record):
    count: int | None = Field(default=None, ge=0, le=1000)
    leptomeningeal: bool | None = None
    lesions: list[Lesion] = Field(default_factory=list)

    @property
    def effective_count(self) -> int | None:
        """The count at diagnosis; if absent, the number of lesions listed (CONTRACT §1)."""
        if self.count is not None:
            return self.count
        return len(self.lesions) if self.lesions else None


class Symptoms(_Record):
    status: SymptomStatus | None = None
    severe_icp: bool | None = Field(default=None, description="severe raised intracranial pressure")
    seizure_history: bool | None = None


class Therapy(_Record):
    systemic_options_available: bool | None = None
    immunotherapy_naive: bool | None = None
    on_immunotherapy: bool | None = None
    immunotherapy_start: dt.date | None = Field(
        default=None, description="start of immune checkpoint therapy (iRANO 6-month window)"
    )
    planned_pemetrexed_platinum: bool | None = None
    prior_her2_therapies: list[str] = Field(default_factory=list)
    dexamethasone_mg_day: float | None = Field(default=None, ge=0, le=100)


class Labs(_Record):
    """Laboratory values at brain-metastasis diagnosis.

    LabBM (Berghoff 2017) needs each value with the testing laboratory's own reference limit
    (ULN/LLN). Where only the flag is known, the ``*_abnormal`` booleans may be given instead.
    """

    hemoglobin_g_dl: float | None = Field(default=None, ge=1, le=25)
    hemoglobin_lln_g_dl: float | None = Field(default=None, ge=1, le=25)
    crp_mg_l: float | None = Field(default=None, ge=0, le=1000)
    crp_uln_mg_l: float | None = Field(default=None, gt=0, le=1000)
    ldh_u_l: float | None = Field(default=None, ge=0, le=100000)
    ldh_uln_u_l: float | None = Field(default=None, gt=0, le=100000)
    platelets_10e9_l: float | None = Field(default=None, ge=0, le=5000)
    platelets_lln_10e9_l: float | None = Field(default=None, gt=0, le=5000)
    albumin_g_l: float | None = Field(default=None, ge=0, le=100)
    albumin_lln_g_l: float | None = Field(default=None, gt=0, le=100)
    crp_above_uln: bool | None = None
    ldh_above_uln: bool | None = None
    hemoglobin_below_lln: bool | None = None
    platelets_below_lln: bool | None = None
    albumin_below_lln: bool | None = None


class AdvancedImaging(_Record):
    """Advanced MRI / PET values entered by hand (diagnosis aids; never a diagnosis).

    ADC in 10^-3 mm^2/s; rCBV normalised as named; MRS ratios as reported by the scanner or
    fitting software (spectral fitting is out of scope); PET ratios as reported.
    """

    # clinical context
    prior_srs: bool | None = Field(default=None, description="lesion previously treated by SRS")
    months_since_srs: float | None = Field(default=None, ge=0, le=600)
    solitary_enhancing_lesion: bool | None = Field(
        default=None, description="an input (never inferred from the number of lesions listed)"
    )
    ring_enhancing: bool | None = None
    lesion_id: str | None = Field(
        default=None, max_length=100,
        description="the lesion these values describe (matches radiation_history.lesion_ids)",
    )
    histology_confirmed: bool | None = Field(
        default=None, description="this lesion's histology is known (biopsy or resection)"
    )
    previously_treated: bool | None = Field(
        default=None, description="this lesion has had brain-directed treatment (radiation, "
        "resection or LITT); false = untreated (an empty radiation_history is not read as none)",
    )
    # diffusion
    cavity_adc: float | None = Field(default=None, ge=0, le=5, description="10^-3 mm^2/s")
    cavity_adc_ratio: float | None = Field(
        default=None, ge=0, le=20, description="cavity ADC / contralateral NAWM ADC"
    )
    lesion_adc: float | None = Field(default=None, ge=0, le=5, description="10^-3 mm^2/s")
    lesion_adc_region: Literal["solid_enhancing", "whole_lesion", "other"] | None = Field(
        default=None, description="where lesion_adc was measured (Romano 2022: solid enhancing)"
    )
    nawm_adc: float | None = Field(default=None, ge=0, le=5, description="10^-3 mm^2/s")
    # DSC perfusion
    perilesional_max_rcbv: float | None = Field(
        default=None, ge=0, le=100, description="max rCBV <=5 mm from the enhancing margin / NAWM"
    )
    lesion_max_rcbv_wm: float | None = Field(default=None, ge=0, le=100)
    lesion_max_rcbv_gm: float | None = Field(default=None, ge=0, le=100)
    lesion_psr_percent: float | None = Field(default=None, ge=-100, le=300)
    rcbv_measurement: Literal["hot_spot_roi", "voxel_max", "mean", "other"] | None = Field(
        default=None, description="how max rCBV was measured (the studies used hot-spot ROIs)"
    )
    dsc_leakage_corrected: bool | None = None
    dsc_te_ms: float | None = Field(default=None, gt=0, le=200)
    dsc_field_strength_t: float | None = Field(default=None, gt=0, le=11.7)
    dsc_flip_angle_deg: float | None = Field(default=None, gt=0, le=180)
    dsc_preload: Literal["yes", "no", "unknown"] | None = None
    pre_srs_hyperperfused: bool | None = Field(
        default=None, description="pre-SRS perfusion study showed the lesion hyperperfused"
    )
    # MR spectroscopy (entered ratios)
    peritumoral_cho_naa: float | None = Field(default=None, ge=0, le=100)
    peritumoral_cho_cr: float | None = Field(default=None, ge=0, le=100)
    lesional_cho_naa: float | None = Field(default=None, ge=0, le=100)
    lesional_cho_cr: float | None = Field(default=None, ge=0, le=100)
    lipid_lactate: bool | None = Field(default=None, description="lipid/lactate peak at 1.3 ppm")
    abscess_peaks: bool | None = Field(
        default=None, description="cytosolic amino acids (0.9 ppm), acetate or succinate in cavity"
    )
    mrs_te_ms: float | None = Field(default=None, gt=0, le=1000)
    mrs_field_strength_t: float | None = Field(default=None, gt=0, le=11.7)
    # amino-acid PET (entered ratios)
    pet_tracer: Literal["fet", "fdopa", "met", "other"] | None = None
    pet_tbrmax: float | None = Field(default=None, ge=0, le=100, description="FET TBRmax")
    pet_tbrmean: float | None = Field(default=None, ge=0, le=100, description="FET TBRmean")
    pet_suvmax_ratio: float | None = Field(
        default=None, ge=0, le=100,
        description="SUVmax lesion / SUVmax background (FDOPA SUVLmax/Bkgrmax, MET LNR)",
    )
    pet_background_method: str | None = Field(default=None, max_length=200)
    pet_uptake_window: str | None = Field(
        default=None, max_length=100, description="e.g. '20-40 min p.i.'"
    )
    pet_tac_pattern: Literal["increasing", "plateau", "decreasing"] | None = Field(
        default=None, description="FET time-activity curve (dynamic PET): Galldiks patterns"
    )
    # ASL
    peritumoral_asl_cbf_gradient: float | None = Field(
        default=None, ge=-1000, le=1000, description="near - far, mL/100 g/min"
    )


class BrainMetastasisMarkers(Markers):
    """Markers measured on the brain metastasis itself (or CSF ctDNA), beside the primary's."""

    source: Literal["resection", "biopsy", "csf_ctdna"] | None = None


class RadiationCourse(_Record):
    """One brain-directed treatment already given (CONTRACT §1 ``radiation_history``)."""

    date: dt.date | None = Field(default=None, description="YYYY-MM-DD")
    modality: RadiationModality
    lesion_ids: list[str] = Field(default_factory=list, description="e.g. ['L1']; empty = "
                                  "not recorded (WBRT covers every lesion)")
    dose_gy: float | None = Field(default=None, gt=0, le=200)
    fractions: int | None = Field(default=None, ge=1, le=100)


class Patient(_Record):
    id: str | None = Field(default=None, max_length=200)
    age: int | None = Field(default=None, ge=18, le=120, description="years at BM diagnosis")
    sex: Literal["female", "male", "other"] | None = None
    kps: int | None = Field(default=None, ge=0, le=100, description="0-100 in steps of 10")
    ecog: int | None = Field(default=None, ge=0, le=4, description="never converted into KPS")
    primary: Primary = Field(default_factory=Primary)
    extracranial_metastases: bool | None = None
    brain_metastases: BrainMetastases = Field(default_factory=BrainMetastases)
    symptoms: Symptoms = Field(default_factory=Symptoms)
    therapy: Therapy = Field(default_factory=Therapy)
    labs: Labs = Field(default_factory=Labs)
    advanced_imaging: AdvancedImaging | None = None
    brain_metastasis_markers: BrainMetastasisMarkers | None = None
    radiation_history: list[RadiationCourse] = Field(default_factory=list)

    @field_validator("kps")
    @classmethod
    def _kps_step(cls, v: int | None) -> int | None:
        if v is not None and v % 10:
            raise ValueError(f"KPS must be 0-100 in steps of 10, got {v}")
        return v

    @field_validator("radiation_history", mode="before")
    @classmethod
    def _null_history_is_absent(cls, v: Any) -> Any:
        return [] if v is None else v  # JSON null = absent = not recorded (as [] is read)

    @field_validator("age", "kps", "ecog", mode="before")
    @classmethod
    def _no_float_truncation(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("expected an integer, got a boolean")
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"expected a whole number, got {v}")
        return v

    @model_validator(mode="after")
    def _histology_only_for_nsclc(self) -> Patient:
        p = self.primary
        if p.histology is not None and p.site not in ("nsclc", None):
            raise ValueError(
                f"primary.histology applies to site nsclc only, got site {p.site!r}"
            )
        return self


# ---------------------------------------------------------------- assessment (CONTRACT §2)


class SourceRef(BaseModel):
    id: str
    rec: str | None = None
    grading: str | None = None
    strength: str | None = None
    evidence: str | None = None
    # additions beyond the contract (treatment.md §0.3: type and a one-sentence verbatim_short)
    type: str | None = None
    text: str | None = None
    grade_reason: str | None = Field(
        default=None, description="why a recommendation shows 'not graded'"
    )


class PrognosticEstimate(BaseModel):
    index: str
    score: float | None
    group: str
    median_survival_months: float | None
    iqr_months: tuple[float, float] | None = None
    source: str
    confidence: Confidence
    warnings: list[str] = Field(default_factory=list)
    # additions beyond the contract
    points: dict[str, float] = Field(default_factory=dict, description="points per factor")
    alternatives: list[dict[str, Any]] = Field(
        default_factory=list, description="other published values where sources disagree"
    )
    reference_ids: list[str] = Field(default_factory=list)
    role: Literal["primary", "secondary"] | None = Field(
        default=None, description="primary: the one estimate the rules use (primary_survival)"
    )


class NotComputed(BaseModel):
    index: str
    reason: str
    missing: list[str] = Field(default_factory=list)


class Option(BaseModel):
    id: str
    kind: OptionKind
    rationale: str
    sources: list[SourceRef] = Field(default_factory=list)
    mdt: bool = False
    defers_local_therapy: bool = False
    dose: str | None = None
    notes: list[str] = Field(default_factory=list)
    # additions beyond the contract
    card: dict[str, Any] | None = Field(
        default=None,
        description="systemic options: evidence card (target, mechanism, CNS evidence, BBB note);"
        " card['summary_lines'] holds the lines text output prints",
    )
    survival_basis: str | None = Field(
        default=None, description="which prognostic index the expected-survival condition used"
    )
    population: list[str] = Field(
        default_factory=list,
        description="population check of each rule that produced the option (passed, or the "
        "caveat under which it is shown)",
    )


class NotRecommended(BaseModel):
    id: str
    reason: str
    sources: list[SourceRef] = Field(default_factory=list)


class PrimarySurvival(BaseModel):
    """The one expected-survival estimate the rules use (treatment.md decision 9)."""

    index: str
    median_survival_months: float | None
    reason: str
    group: str | None = None
    source: str | None = None
    confidence: Confidence | None = None
    warnings: list[str] = Field(default_factory=list)


class Awaiting(BaseModel):
    """An option that would apply, or not, once the named fields are known."""

    id: str
    needs: list[str]
    reason: str
    kind: OptionKind | None = None
    sources: list[SourceRef] = Field(default_factory=list)


class NotApplicable(BaseModel):
    """An option whose trigger is unmet for this patient, with the unmet condition."""

    id: str
    reason: str
    sources: list[SourceRef] = Field(default_factory=list)


class InputCheck(BaseModel):
    """A contradiction between input fields (treatment.md decision 12)."""

    fields: list[str]
    severity: Literal["warning", "error"]
    message: str
    id: str | None = None
    blocking: bool = Field(default=False, description="no reading of the record is safe")


class LocalTherapyTiming(BaseModel):
    """The statement on local therapy versus deferral (ASCO R2.1/R2.2), with its own grade."""

    may_defer: bool
    statement: str
    sources: list[SourceRef] = Field(default_factory=list)
    mdt: bool = False


class DiagnosisStatement(BaseModel):
    """One advanced-imaging interpretation statement (a flag with its source, never a diagnosis)."""

    id: str
    text: str
    question: str = Field(description="recurrence_vs_necrosis | glioblastoma_vs_metastasis | "
                          "abscess | qc")
    cutoff: str | None = Field(default=None, description="e.g. '>= 2.15 ratio'")
    source: str | None = Field(default=None, description="first reference id")
    confidence: str | None = Field(
        default=None, description="confirmed | single_source | uncertain | interpolated")
    # additions beyond the contract
    status: str = Field(description="supports | does_not_support | not_assessable | display_only")
    value: float | None = None
    unit: str | None = None
    sources: list[str] = Field(default_factory=list)
    citations: list[str] = Field(default_factory=list)
    reliability: str = "standard"
    missing: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class DiagnosisContextRow(BaseModel):
    text: str
    source: str | None = None
    sources: list[str] = Field(default_factory=list)
    confidence: str | None = None


class DiagnosisContext(BaseModel):
    primary_site: str | None = None
    epidemiology: list[DiagnosisContextRow] = Field(default_factory=list)
    screening: list[DiagnosisContextRow] = Field(default_factory=list)
    unconfirmed: list[DiagnosisContextRow] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class DiagnosisQuestion(BaseModel):
    id: str
    text: str
    why: str = Field(description="the lesion history that makes this question the right one")


class Diagnosis(BaseModel):
    """Advanced-imaging interpretation and epidemiology context (CONTRACT §2 ``diagnosis``)."""

    summary: str = Field(description="one line, for a folded section heading")
    questions: list[DiagnosisQuestion] = Field(default_factory=list)
    not_asked: list[str] = Field(default_factory=list)
    history: dict[str, Any] = Field(default_factory=dict)
    statements: list[DiagnosisStatement] = Field(default_factory=list)
    context: DiagnosisContext = Field(default_factory=DiagnosisContext)


class Assessment(BaseModel):
    patient_id: str | None
    prognosis: list[PrognosticEstimate] = Field(default_factory=list)
    not_computed: list[NotComputed] = Field(default_factory=list)
    options: list[Option] = Field(default_factory=list)
    not_recommended: list[NotRecommended] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    disclaimer: str = DISCLAIMER
    versions: dict[str, str] = Field(default_factory=dict)
    # added after the clinical review (CONTRACT §2)
    primary_survival: PrimarySurvival | None = None
    awaiting: list[Awaiting] = Field(default_factory=list)
    not_applicable: list[NotApplicable] = Field(default_factory=list)
    input_checks: list[InputCheck] = Field(default_factory=list)
    local_therapy_timing: LocalTherapyTiming | None = None
    diagnosis: Diagnosis | None = Field(
        default=None, description="advanced-imaging statements and epidemiology context")


# ---------------------------------------------------------------- errors


class InputError(BrainmetsError, ValueError):
    """Bad input, with one message per offending field (``path: problem``)."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "(record)"


def format_errors(exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per error: ``field.path: expected ..., got ...``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = prefix + _loc_to_path(loc)
        etype = err["type"]
        got = err.get("input")
        ctx = err.get("ctx") or {}
        if etype == "literal_error":
            allowed = ctx.get("expected", "").replace("'", "").replace(" or ", ", ").split(", ")
            msg = f"expected {'|'.join(a.strip() for a in allowed)}, got {got!r}"
        elif etype in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            msg = f"{err['msg'].lower()}, got {got!r}"
        elif etype == "missing":
            msg = "required field is missing"
        elif etype == "value_error":
            msg = str(ctx.get("error", err["msg"]))
        else:
            msg = f"{err['msg'].lower()}, got {got!r}"
        lines.append(f"{path}: {msg}")
    return lines


def parse_patient(data: Any, prefix: str = "") -> Patient:
    """Validate one patient record; raise :class:`InputError` naming every bad field."""
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "(record)"
        raise InputError([f"{where}: expected a JSON object, got {type(data).__name__}"])
    try:
        return Patient.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_errors(exc, prefix)) from None
