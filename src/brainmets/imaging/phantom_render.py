"""Rendering of a phantom: template-space anatomy + confounders, then the acquisition grid.

Coordinate frames: template index -> MNI mm (``Anatomy.affine``); MNI -> world (scanner RAS mm)
by the subject's pose ``world_from_mni`` (rigid + mild scaling); output voxel -> world by the NIfTI
affine (signed axis permutation x small oblique rotation x voxel size).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from brainmets.imaging.phantom_anatomy import Anatomy
from brainmets.imaging.phantom_lesions import Lesion

# head layers outside the brain mask: (outer edge in mm from the brain surface, tissue name)
HEAD_LAYERS: tuple[tuple[float, str], ...] = (
    (2.0, "csf"),
    (3.0, "dura"),
    (4.5, "bone"),
    (7.5, "marrow"),
    (9.0, "bone"),
    (10.5, "muscle"),
    (15.0, "fat"),
    (16.5, "skin"),
)
HEAD_MM = HEAD_LAYERS[-1][0]
# values of confounders.nii.gz (written on request) and their names
CONFOUNDER_CODES: dict[str, int] = {
    "vessel": 1, "dural_sinus": 2, "choroid_plexus": 3, "dura": 4, "head": 5,
}


def tissue_levels(rng: np.random.Generator) -> dict[str, float]:
    """Relative T1c intensities (white matter = 1), randomised per patient."""
    return {
        "wm": 1.0,
        "gm": rng.uniform(0.68, 0.8),
        "csf": rng.uniform(0.22, 0.36),
        "dura": rng.uniform(1.05, 1.4),
        "bone": rng.uniform(0.04, 0.1),
        "marrow": rng.uniform(0.8, 1.25),
        "muscle": rng.uniform(0.5, 0.65),
        "fat": rng.uniform(1.25, 1.6),
        "skin": rng.uniform(0.55, 0.75),
        "vessel": rng.uniform(1.4, 2.1),
        "sinus": rng.uniform(1.6, 2.3),
        "plexus": rng.uniform(1.4, 1.9),
    }


def smooth_field(rng: np.random.Generator, shape, coarse: int = 5, sd: float = 1.0) -> np.ndarray:
    """A smooth random field (unit-ish amplitude) on ``shape`` from a coarse random grid."""
    from brainmets.imaging.phantom_anatomy import upsample_linear

    g = rng.normal(0.0, sd, (coarse,) * 3).astype(np.float32)
    return upsample_linear(g, tuple(shape))


def _ray_surface(anat: Anatomy, origin: np.ndarray, dirs: np.ndarray, beyond: float) -> np.ndarray:
    """For each direction, the MNI point ``beyond`` mm past the last brain voxel along the ray."""
    t = np.arange(0.0, 140.0, 0.5)
    pts = origin + dirs[:, None, :] * t[None, :, None]
    idx = np.rint(anat.index_of(pts.reshape(-1, 3))).astype(int)
    idx = np.clip(idx, 0, np.array(anat.shape) - 1)
    inside = anat.brain[tuple(idx.T)].reshape(len(dirs), len(t))
    last = np.where(inside.any(1), len(t) - 1 - np.argmax(inside[:, ::-1], axis=1), 0)
    return origin + dirs * (t[last] + beyond)[:, None]


def _polyline(points: np.ndarray, step: float = 0.5) -> np.ndarray:
    segs = []
    for a, b in zip(points[:-1], points[1:], strict=True):
        n = max(int(np.linalg.norm(b - a) / step), 1)
        segs.append(a + (b - a) * (np.arange(n)[:, None] / n))
    segs.append(points[-1:])
    return np.concatenate(segs)


@lru_cache(maxsize=3)
def _vessel_seeds(step: int) -> np.ndarray:
    from brainmets.imaging.phantom_anatomy import load_anatomy

    anat = load_anatomy(step)
    return np.argwhere((anat.csf > 0.3) & (anat.d_in > 0) & (anat.d_in < 6))


def confounder_paths(
    rng: np.random.Generator, anat: Anatomy, lesions: list[Lesion]
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """MNI point sets for thin vessels and sinuses; a list describing every confounder."""
    info: list[dict] = []
    origin = np.array([0.0, -18.0, 12.0])
    # superior sagittal sinus: over the vertex in the midsagittal plane
    th = np.deg2rad(np.linspace(28, 200, 90))
    sss = _ray_surface(anat, origin, np.stack([0 * th, np.cos(th), np.sin(th)], 1), 3.0)
    torcula = sss[-1]
    # transverse + sigmoid sinuses in the plane of the torcula
    sides = []
    for s in (-1, 1):
        ph = np.deg2rad(np.linspace(0, 62, 40))
        dirs = np.stack([s * np.sin(ph), -np.cos(ph), 0 * ph], 1)
        tr = _ray_surface(anat, np.array([0.0, -30.0, torcula[2]]), dirs, 3.0)
        sig = _polyline(np.array([tr[-1], tr[-1] + [s * 2.0, 8.0, -12.0],
                                  tr[-1] + [s * 1.0, 12.0, -28.0]]))
        sides.append(np.concatenate([tr, sig]))
    # straight sinus, vein of Galen, internal cerebral veins
    straight = _polyline(np.array([[0.0, -46.0, 8.0], torcula]))
    galen = _polyline(np.array([[0.0, -36.0, 14.0], [0.0, -46.0, 8.0]]))
    icv = [_polyline(np.array([[s * 2.5, -2.0, 18.0], [s * 1.5, -36.0, 14.0]])) for s in (-1, 1)]
    sinus = np.concatenate([_polyline(sss), *sides, straight])
    info += [
        {"kind": "dural_sinus", "name": "superior_sagittal"},
        {"kind": "dural_sinus", "name": "transverse_sigmoid", "side": "both"},
        {"kind": "dural_sinus", "name": "straight"},
        {"kind": "deep_vein", "name": "internal_cerebral_veins_and_galen"},
    ]
    # cortical vessels: smooth random walks in the sulcal shell
    seeds = _vessel_seeds(anat.step)
    n_v = int(rng.integers(35, 80))
    pos = anat.mni_of(seeds[rng.integers(len(seeds), size=n_v)].astype(float))
    d = rng.normal(size=(n_v, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    n_steps = rng.integers(30, 120, size=n_v)
    walk = []
    hi = np.array(anat.shape) - 1
    for k in range(int(n_steps.max())):
        d = d + rng.normal(0, 0.3, d.shape)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        new = pos + 0.5 * d
        ii = np.clip(np.rint(anat.index_of(new)).astype(int), 0, hi)
        ok = (anat.d_in[tuple(ii.T)] < 9.0) & (anat.d_out[tuple(ii.T)] < 2.0)
        pos = np.where(ok[:, None], new, pos)
        d = np.where(ok[:, None], d, -d)
        alive = k < n_steps
        walk.append(pos[alive])
    thin = np.concatenate(walk + [*icv, galen])
    info.append({"kind": "cortical_vessel", "count": n_v})
    # keep confounders clear of the lesions so the truth stays clean
    for les in lesions:
        r = les.outer_radius * 1.6 + 2.0
        thin = thin[np.linalg.norm(thin - les.centre, axis=1) > r]
        sinus = sinus[np.linalg.norm(sinus - les.centre, axis=1) > r]
    return {"thin": thin, "sinus": sinus}, info


def _splat(anat: Anatomy, pts: np.ndarray) -> np.ndarray:
    grid = np.zeros(anat.shape, np.float32)
    ii = np.rint(anat.index_of(pts)).astype(int)
    keep = np.all((ii >= 0) & (ii < np.array(anat.shape)), axis=1)
    np.add.at(grid, tuple(ii[keep].T), 1.0)
    return grid


def _tube(
    anat: Anatomy, pts: np.ndarray, sigma_mm: float, density: float
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Occupancy (0-1) of a tube of Gaussian profile around dense points (``density``/mm)."""
    from scipy import ndimage as ndi

    out = np.zeros(anat.shape, np.float32)
    if len(pts) == 0:
        return out, (slice(0, 0),) * 3
    s = sigma_mm / anat.step
    ii = np.rint(anat.index_of(pts)).astype(int)
    lo = np.clip(ii.min(0) - int(3 * s) - 2, 0, None)
    hi = np.minimum(ii.max(0) + int(3 * s) + 3, anat.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    g = ndi.gaussian_filter(_splat(anat, pts)[sl], s, truncate=3.0)
    peak = density * anat.step / (2 * np.pi * s * s)  # blurred line of unit density, at its axis
    return np.clip(g / (0.6 * peak), 0.0, 1.0), sl


def template_image(
    rng: np.random.Generator,
    anat: Anatomy,
    lev: dict[str, float],
    lesions: list[Lesion],
    paths: dict[str, np.ndarray],
    info: list[dict],
    full_head: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """T1c intensities (white matter = 1) on the template grid, lesions excluded, and a map of
    the enhancing confounders (``CONFOUNDER_CODES``)."""
    conf = np.zeros(anat.shape, np.uint8)
    img = anat.gm * np.float32(lev["gm"])
    img += anat.wm * np.float32(lev["wm"])
    img += anat.csf * np.float32(lev["csf"])
    if full_head:
        thick = np.exp(0.12 * smooth_field(rng, anat.shape, 4))
        dd = anat.d_out / thick
        edges = np.array([e for e, _ in HEAD_LAYERS], np.float32)
        table = np.array([lev[n] for _, n in HEAD_LAYERS] + [0.0], np.float32)
        layer = np.searchsorted(edges, dd)  # index of the first edge >= distance
        img = np.where(anat.brain, img, table[layer])
        names = [n for _, n in HEAD_LAYERS] + ["air"]
        code = np.array([CONFOUNDER_CODES.get("dura" if n == "dura" else "head", 0)
                         if n not in ("csf", "air") else 0 for n in names], np.uint8)
        conf = np.where(anat.brain, conf, code[layer])
        info.append({"kind": "dura", "name": "convexity"})
        info.append({"kind": "scalp_fat_and_marrow"})
    # falx: midline sheet in the interhemispheric fissure above the corpus callosum
    xyz_x = anat.affine[0, 0] * np.arange(anat.shape[0]) + anat.affine[0, 3]
    xyz_z = anat.affine[2, 2] * np.arange(anat.shape[2]) + anat.affine[2, 3]
    mid = np.flatnonzero(np.abs(xyz_x) <= max(0.6, anat.step / 2))
    xs = slice(int(mid.min()), int(mid.max()) + 1)
    falx = (anat.csf[xs] > 0.35) | (~anat.brain[xs] & (anat.d_out[xs] <= 3.0))
    falx &= (xyz_z > 8)[None, None, :]
    np.putmask(img[xs], falx, np.float32(lev["dura"]))
    np.putmask(conf[xs], falx, CONFOUNDER_CODES["dura"])
    info.append({"kind": "dura", "name": "falx"})
    # choroid plexus: blobs in both trigones and the fourth ventricle
    vent = np.argwhere((anat.csf > 0.5) & (anat.d_in > 8))
    vent_mni = anat.mni_of(vent.astype(float)) if len(vent) else np.zeros((0, 3))
    for name, nominal, radii in (
        ("left_trigone", (-28.0, -42.0, 14.0), (3.5, 7.0, 3.5)),
        ("right_trigone", (28.0, -42.0, 14.0), (3.5, 7.0, 3.5)),
        ("fourth_ventricle", (0.0, -48.0, -30.0), (2.0, 3.0, 2.0)),
    ):
        if not len(vent_mni):
            break
        c = vent_mni[np.argmin(np.linalg.norm(vent_mni - nominal, axis=1))]
        r = np.asarray(radii) * rng.uniform(0.8, 1.25)
        lo = np.floor(anat.index_of(c - r - 2)).astype(int).clip(0)
        hi = np.ceil(anat.index_of(c + r + 2)).astype(int) + 1
        sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        ii = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)],
                                  indexing="ij"), -1)
        q = ((anat.mni_of(ii.reshape(-1, 3).astype(float)) - c) / r) ** 2
        occ = np.clip(1.5 - q.sum(1), 0, 1).reshape(ii.shape[:3]) * (anat.csf[sl] > 0.2)
        img[sl] = img[sl] * (1 - occ) + lev["plexus"] * occ
        np.putmask(conf[sl], occ > 0.3, CONFOUNDER_CODES["choroid_plexus"])
        info.append({"kind": "choroid_plexus", "name": name,
                     "centre_mni": [round(float(v), 1) for v in c]})
    # vessels and sinuses
    v, sl = _tube(anat, paths["thin"], rng.uniform(0.45, 0.8), 2.0)
    img[sl] = img[sl] * (1 - v) + lev["vessel"] * v
    np.putmask(conf[sl], v > 0.3, CONFOUNDER_CODES["vessel"])
    if full_head:
        s, sl = _tube(anat, paths["sinus"], rng.uniform(1.6, 2.2), 2.0)
        img[sl] = img[sl] * (1 - s) + lev["sinus"] * s
        np.putmask(conf[sl], s > 0.3, CONFOUNDER_CODES["dural_sinus"])
    return img.astype(np.float32), conf
