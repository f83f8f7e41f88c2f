"""One base for every error brainmets raises on purpose.

Interfaces (CLI, service) catch :class:`BrainmetsError` to turn a known failure into a clear
message (CLI exit 2, HTTP 4xx); anything else is an internal error.
"""

from __future__ import annotations


class BrainmetsError(Exception):
    """Base of all deliberate brainmets errors (bad input, bad knowledge data, bad files)."""


class InputValueError(BrainmetsError, ValueError):
    """Bad user input: a record, a table, a file or a parameter; the message names the field."""
