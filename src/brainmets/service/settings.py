"""Service settings (environment variables with safe defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class Settings:
    """Limits and switches; every field can be set per app in tests."""

    max_upload_mb: int = field(default_factory=lambda: _int_env("BRAINMETS_MAX_UPLOAD_MB", 512))
    max_unzipped_mb: int = field(
        default_factory=lambda: _int_env("BRAINMETS_MAX_UNZIPPED_MB", 2048)
    )
    max_zip_members: int = 5000
    max_dim: int = 1024  # voxels per axis accepted in an uploaded volume
    min_dim: int = 8
    scan_workers: int = field(default_factory=lambda: _int_env("BRAINMETS_SCAN_WORKERS", 1))
    secure_cookies: bool = field(
        default_factory=lambda: os.environ.get("BRAINMETS_SECURE_COOKIES", "0") == "1"
    )

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_unzipped_bytes(self) -> int:
        return self.max_unzipped_mb * 1024 * 1024
