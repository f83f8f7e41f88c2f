"""Outputs of a scan: label map (NIfTI), overlay montage (PNG), DICOM SEG (highdicom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_labels(path: Path, labels: np.ndarray, affine: np.ndarray) -> None:
    import nibabel as nib

    dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
    img = nib.Nifti1Image(labels.astype(dtype), affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))


def write_overlay(
    path: Path,
    image: np.ndarray,
    labels: np.ndarray,
    affine: np.ndarray,
    lesions: list[dict],
    title: str = "",
    max_panels: int = 12,
) -> None:
    """Montage of axial slices (radiological convention) through each lesion, outlined.

    ``image``/``labels`` are on a closest-RAS grid (axis 0 -> R, 1 -> A, 2 -> S).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    sub = image[:: 2, :: 2, :: 2].ravel()
    sub = sub[sub > np.percentile(sub, 50)]  # tissue, not air
    vmin, vmax = np.percentile(sub, [0.5, 99.9]) if sub.size else (image.min(), image.max())
    inv = np.linalg.inv(affine)
    shown = lesions[:max_panels]
    n = max(1, len(shown))
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 4.4 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    # world-aligned extents; the radiological flip (patient right on the image left) is done by
    # the inverted x limits below, so image and outlines share one coordinate system
    extent_x = (0, image.shape[0] * sp[0])
    extent_y = (0, image.shape[1] * sp[1])
    if not shown:
        k = image.shape[2] // 2
        ax = axes[0, 0]
        ax.imshow(image[:, :, k].T, cmap="gray", vmin=vmin, vmax=vmax, origin="lower",
                  extent=(*extent_x, *extent_y))
        ax.set_xlim(extent_x[1], extent_x[0])
        ax.set_title("no lesion detected", fontsize=11)
    for ax, les in zip(axes.ravel(), shown, strict=False):
        ijk = inv[:3, :3] @ np.array(les["centroid_mm"]) + inv[:3, 3]
        k = int(np.clip(round(ijk[2]), 0, image.shape[2] - 1))
        sl = labels[:, :, k]
        if not (sl == les["id"]).any():  # centroid slice may miss a ring / lobulated lesion
            zs = np.where((labels == les["id"]).any(axis=(0, 1)))[0]
            if zs.size:
                k = int(zs[np.argmin(np.abs(zs - ijk[2]))])
                sl = labels[:, :, k]
        ax.imshow(image[:, :, k].T, cmap="gray", vmin=vmin, vmax=vmax, origin="lower",
                  extent=(*extent_x, *extent_y), interpolation="nearest")
        xs = (np.arange(image.shape[0]) + 0.5) * sp[0]
        ys = (np.arange(image.shape[1]) + 0.5) * sp[1]
        other = (sl > 0) & (sl != les["id"])
        if other.any():
            ax.contour(xs, ys, other.T.astype(float), levels=[0.5], colors="yellow",
                       linewidths=0.8)
        if (sl == les["id"]).any():
            ax.contour(xs, ys, (sl == les["id"]).T.astype(float), levels=[0.5], colors="red",
                       linewidths=1.2)
        # zoom around the lesion (at least 60 mm wide)
        cx, cy = (ijk[0] + 0.5) * sp[0], (ijk[1] + 0.5) * sp[1]
        half = max(30.0, 1.5 * float(les.get("max_diameter_mm") or 0))
        ax.set_xlim(cx + half, cx - half)
        ax.set_ylim(cy - half, cy + half)
        ax.text(0.02, 0.97, "R", color="white", transform=ax.transAxes, va="top", fontsize=10)
        ax.text(0.98, 0.97, "L", color="white", transform=ax.transAxes, va="top", ha="right",
                fontsize=10)
        ax.set_title(
            f"L{les['id']} {les.get('location', '')}\n"
            f"{les['longest_axial_diameter_mm']:.1f} x {les['perpendicular_diameter_mm']:.1f} mm,"
            f" {les['volume_ml']:.2f} ml, conf {les.get('confidence', float('nan')):.2f}",
            fontsize=9,
        )
    more = f" (first {max_panels} of {len(lesions)})" if len(lesions) > max_panels else ""
    fig.suptitle((title + more).strip() + "\nNot a medical device: research use only.",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(str(path), dpi=90)
    plt.close(fig)


def write_dicom_seg(
    path: Path,
    source: list,
    labels: np.ndarray,
    lesions: list[dict],
    algorithm: tuple[str, str],
) -> dict:
    """DICOM SEG with one segment per lesion; read back and checked. Returns UIDs.

    ``labels`` is on the input DICOM grid with axes (column, row, slice) in the sorted order of
    ``source``.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    from brainmets._version import __version__

    alg = hd.AlgorithmIdentificationSequence(
        name=algorithm[0], version=algorithm[1], family=codes.cid7162.ArtificialIntelligence
    )
    descs = []
    tracking = {}
    for les in lesions:
        uid = generate_uid()
        tracking[les["id"]] = uid
        descs.append(
            hd.seg.SegmentDescription(
                segment_number=int(les["id"]),
                segment_label=f"Lesion {les['id']}",
                segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                segmented_property_type=codes.SCT.Neoplasm,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=alg,
                tracking_uid=uid,
                tracking_id=f"brainmets lesion {les['id']}",
            )
        )
    frames = np.stack([labels[:, :, k].T for k in range(labels.shape[2])], axis=0)
    ids = [int(les["id"]) for les in lesions]
    pix = np.stack([frames == i for i in ids], axis=-1)
    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=pix,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descs,
        series_instance_uid=generate_uid(),
        series_number=9901,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="brainmets",
        manufacturer_model_name="brainmets scan",
        software_versions=__version__,
        device_serial_number="0",
        omit_empty_frames=False,
        series_description="brainmets lesions (research use)",
    )
    seg.save_as(str(path))
    # validate by reading it back
    back = hd.seg.segread(str(path))
    nums = list(back.segment_numbers)
    if nums != ids:
        raise RuntimeError(f"DICOM SEG check failed: segments {nums} != {ids}")
    arr = back.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in source],
        segment_numbers=ids,
    )
    if arr.shape[:3] != frames.shape or not np.array_equal(arr.astype(bool), pix):
        raise RuntimeError("DICOM SEG check failed: pixel data differ after read-back")
    return {"sop_instance_uid": str(seg.SOPInstanceUID),
            "series_instance_uid": str(seg.SeriesInstanceUID),
            "tracking_uids": {str(k): v for k, v in tracking.items()}}
