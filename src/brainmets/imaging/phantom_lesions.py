"""Synthetic metastases for the phantoms: placement, implicit shape and exact measurement.

A lesion lives in MNI millimetres: a union of 1-4 spherical lobes in a local frame ``u``, related to
MNI by ``x = centre + A @ u`` (A = rotation x mild anisotropy). ``rho(x) = min_i |u - o_i| / r_i``
is < 1 inside; a ring lesion's necrotic core is ``rho < core_ratio``. A follow-up scales the whole
lesion by ``factor`` about its centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from brainmets.imaging.phantom_anatomy import Anatomy, load_anatomy

# equivalent-diameter bins used by the metrics (imaging.md §2.4)
SIZE_BINS_MM: tuple[tuple[str, float, float], ...] = (
    ("<3", 0.0, 3.0),
    ("3-5", 3.0, 5.0),
    ("5-10", 5.0, 10.0),
    (">=10", 10.0, float("inf")),
)


def size_bin(d_mm: float) -> str:
    for name, lo, hi in SIZE_BINS_MM:
        if lo <= d_mm < hi:
            return name
    return ">=10"


@dataclass
class Lesion:
    centre: np.ndarray  # MNI mm
    A: np.ndarray  # 3x3, local -> MNI
    offsets: np.ndarray  # (k, 3) lobe centres in local mm
    radii: np.ndarray  # (k,) lobe radii in local mm
    pattern: str  # "solid" | "ring"
    core_ratio: float  # ring only: core radius / lobe radius
    location: str
    enhancement: float  # x white-matter level
    core_level: float  # x white-matter level (ring core)
    oedema_mm: float  # oedema extent beyond the surface (0 = none)
    oedema_depth: float  # fractional signal drop in the oedema
    nominal_diameter_mm: float
    factor: float = 1.0
    extra: dict = field(default_factory=dict)

    @property
    def outer_radius(self) -> float:
        s = np.linalg.svd(self.A, compute_uv=False).max()
        return float((np.linalg.norm(self.offsets, axis=1) + self.radii).max() * s * self.factor)

    def rho(self, mni: np.ndarray) -> np.ndarray:
        """Normalised lobe distance at MNI points ``(..., 3)`` (< 1 inside the lesion)."""
        ainv = np.linalg.inv(self.A) / self.factor
        u = (mni - self.centre) @ ainv.T
        out = None
        for o, r in zip(self.offsets, self.radii, strict=True):
            d = np.sqrt(((u - o) ** 2).sum(-1)) / r
            out = d if out is None else np.minimum(out, d)
        assert out is not None
        return out

    def scaled(self, factor: float) -> Lesion:
        c = Lesion(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        c.factor = factor
        c.extra = dict(self.extra)
        return c


# ----------------------------------------------------------------------------- placement

# Rough MNI boxes used only to place lesions unambiguously (conservative margins).
LOCATIONS = ("supratentorial", "cerebellum", "brainstem")


def locations_of(mni: np.ndarray) -> np.ndarray:
    """Location code per MNI point: 0 supratentorial, 1 cerebellum, 2 brainstem, -1 ambiguous."""
    x, y, z = (np.asarray(mni, float)[..., i] for i in range(3))
    ax = np.abs(x)
    code = np.full(x.shape, -1, int)
    code[(z >= 4) | ((ax >= 32) & (y >= -20) & (z >= -30))] = 0
    code[(y <= -50) & (z >= -50) & (z <= -22) & (ax <= 45) & (ax >= 8)] = 1
    code[(ax <= 8) & (y >= -36) & (y <= -18) & (z >= -40) & (z <= -14)] = 2
    return code


def location_of(mni: np.ndarray) -> str | None:
    c = int(locations_of(np.asarray(mni, float)[None])[0])
    return LOCATIONS[c] if c >= 0 else None


@lru_cache(maxsize=3)
def _pools(step: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Candidate centres (MNI, depth, location code): grey-white junction and deep white matter."""
    anat = load_anatomy(step)
    gm, wm = anat.gm, anat.wm
    junction = (gm > 0.25) & (wm > 0.25) & (gm + wm > 0.85)
    deep_wm = (wm > 0.5) & anat.brain
    pools = []
    for mask in (junction, deep_wm):
        idx = np.argwhere(mask)
        mni = anat.mni_of(idx.astype(np.float64))
        pools.append((mni, anat.d_in[tuple(idx.T)], locations_of(mni)))
    return pools


def sample_lesions(
    rng: np.random.Generator,
    anat: Anatomy,
    n: int,
    *,
    diameter_range: tuple[float, float] = (2.0, 40.0),
    growth_margin: float = 1.0,
    avoid: list[Lesion] | None = None,
    contrast: tuple[float, float] = (1.35, 1.9),
) -> list[Lesion]:
    """Draw ``n`` metastases at the grey-white junction, size bins taken in turn."""
    pools = _pools(anat.step)
    lo, hi = diameter_range
    bins = [(max(lo, 2.0), 3.0), (max(lo, 3.0), 5.0), (max(lo, 5.0), 10.0), (max(lo, 10.0), hi)]
    bins = [(a, min(b, hi)) for a, b in bins if a < min(b, hi)] or [(lo, hi)]
    placed: list[Lesion] = list(avoid or [])
    out: list[Lesion] = []
    start = int(rng.integers(len(bins)))
    for i in range(n):
        b = bins[(start + i) % len(bins)]
        want = int(rng.choice(3, p=[0.72, 0.18, 0.10]))
        for attempt in range(300):
            d_nom = float(np.exp(rng.uniform(np.log(b[0]), np.log(b[1]))))
            if attempt > 150:
                d_nom = min(d_nom, 15.0)
            w = want if attempt < 100 else 0
            if w == 2 and d_nom > 12:
                w = 0
            if w == 1 and d_nom > 30:
                w = 0
            mni, depth, loc = pools[0] if (d_nom <= 12 and w != 2) else pools[1]
            cand = np.flatnonzero(loc == w)
            if not len(cand):
                continue
            k = int(cand[rng.integers(len(cand))])
            c = mni[k] + rng.uniform(-0.5, 0.5, 3) * anat.step
            lesion = _shape(rng, c, d_nom, LOCATIONS[w], contrast)
            ro = lesion.outer_radius
            if d_nom > 6 and depth[k] < min(ro * growth_margin + 1.0, ro + 6.0):
                continue
            if depth[k] < 0.5 * ro or location_of(c) != LOCATIONS[w]:
                continue
            if any(
                np.linalg.norm(c - p.centre) < (ro + p.outer_radius) * growth_margin + 4.0
                for p in placed
            ):
                continue
            placed.append(lesion)
            out.append(lesion)
            break
    return out


def _shape(
    rng: np.random.Generator, c: np.ndarray, d_nom: float, location: str, contrast
) -> Lesion:
    r = d_nom / 2.0
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    aniso = rng.uniform(0.85, 1.15, 3) if d_nom >= 4 else np.ones(3)
    A = q @ np.diag(aniso)
    offsets = [np.zeros(3)]
    radii = [r]
    if d_nom >= 6:
        for _ in range(int(rng.integers(0, 4))):
            v = rng.normal(size=3)
            v /= np.linalg.norm(v)
            offsets.append(v * r * rng.uniform(0.4, 0.7))
            radii.append(r * rng.uniform(0.4, 0.65))
    ring = d_nom >= 10 and rng.random() < 0.6
    rim = rng.uniform(1.5, 3.5)
    core_ratio = float(np.clip(1 - rim / r, 0.3, 0.75)) if ring else 0.0
    oedema = rng.uniform(0.3, 1.2) * d_nom if d_nom >= 5 and rng.random() < 0.8 else 0.0
    return Lesion(
        centre=np.asarray(c, float),
        A=A,
        offsets=np.asarray(offsets),
        radii=np.asarray(radii),
        pattern="ring" if ring else "solid",
        core_ratio=core_ratio,
        location=location,
        enhancement=float(rng.uniform(*contrast)),
        core_level=float(rng.uniform(0.35, 0.6)),
        oedema_mm=float(min(oedema, 25.0)),
        oedema_depth=float(rng.uniform(0.12, 0.3)),
        nominal_diameter_mm=d_nom,
    )


# ----------------------------------------------------------------------------- measurement


def _feret2d(pts: np.ndarray) -> tuple[float, float]:
    """Longest diameter of 2-D points and the caliper width perpendicular to it."""
    from scipy.spatial import ConvexHull, QhullError

    if len(pts) < 2:
        return 0.0, 0.0
    try:
        hv = pts[ConvexHull(pts).vertices] if len(pts) >= 4 else pts
    except QhullError:
        hv = pts
    diff = hv[:, None, :] - hv[None, :, :]
    d2 = (diff**2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    ld = float(np.sqrt(d2[i, j]))
    if ld == 0:
        return 0.0, 0.0
    u = (hv[j] - hv[i]) / ld
    perp = np.array([-u[1], u[0]])
    proj = hv @ perp
    return ld, float(proj.max() - proj.min())


def measure(lesion: Lesion, world_from_mni: np.ndarray) -> dict:
    """Exact geometry of a lesion in world mm: volume, RANO-BM diameters, 3-D diameter."""
    from scipy.spatial import ConvexHull, QhullError

    ro = lesion.outer_radius
    h = max(2 * ro / 32.0, 0.05)
    ax = np.arange(-ro - h, ro + h * 1.5, h)
    g = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3) + lesion.centre
    pts = g[lesion.rho(g) < 1.0]
    lin = world_from_mni[:3, :3]
    vol_mm3 = len(pts) * h**3 * abs(np.linalg.det(lin))
    w = pts @ lin.T + world_from_mni[:3, 3]
    # axial (world z) slabs of thickness h: longest in-plane diameter and its perpendicular
    zb = np.floor((w[:, 2] - w[:, 2].min()) / h).astype(int)
    order = np.argsort(zb)
    zb_s = zb[order]
    cuts = np.flatnonzero(np.diff(zb_s)) + 1
    best = (0.0, 0.0)
    for grp in np.split(order, cuts):
        if len(grp) < 3:
            continue
        ld, pd = _feret2d(w[grp, :2])
        if ld > best[0]:
            best = (ld, pd)
    try:
        hv = w[ConvexHull(w).vertices]
    except (QhullError, ValueError):
        hv = w
    d3 = float(np.sqrt(((hv[:, None, :] - hv[None, :, :]) ** 2).sum(-1).max())) if len(hv) else 0
    eq = (6 * vol_mm3 / np.pi) ** (1 / 3)
    return {
        "true_volume_ml": round(vol_mm3 / 1000.0, 6),
        "equivalent_diameter_mm": round(float(eq), 3),
        "longest_axial_diameter_mm": round(best[0] + h, 2),
        "perpendicular_diameter_mm": round(best[1] + h, 2),
        "max_diameter_mm": round(d3 + h, 2),
        "true_centroid_mm": [round(float(v), 3) for v in w.mean(0)],
    }
