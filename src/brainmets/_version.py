"""The package version, importable by every layer without pulling in the engines."""

__version__ = "0.1.0"
