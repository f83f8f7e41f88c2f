"""The imaging engine's volume type and its input error.

A :class:`Volume` is a 3-D float32 array plus the 4x4 affine mapping voxel indices to world
coordinates (NIfTI RAS+ millimetres). Voxel indices never leave :mod:`brainmets.imaging`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brainmets.errors import BrainmetsError


class ImagingInputError(BrainmetsError, ValueError):
    """An input scan that cannot be analysed; the message names the problem (CLI exit 2)."""


@dataclass
class Volume:
    data: np.ndarray  # float32, 3-D
    affine: np.ndarray  # 4x4 float64, voxel index -> RAS mm
    source: str = ""
    kind: str = "nifti"  # "nifti" | "dicom"
    dicom: list[Any] | None = None  # the sorted DICOM datasets (no pixel data) of the series
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size in mm along each array axis."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    def world(self, ijk: np.ndarray) -> np.ndarray:
        """World (RAS mm) coordinates of voxel indices ``(..., 3)``."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]
