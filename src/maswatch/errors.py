"""Errors that name what was wrong, so a clinician or an integrator can fix the input."""

from __future__ import annotations


class MaswatchError(Exception):
    """Base class for every error maswatch raises on purpose."""


class InputError(MaswatchError, ValueError):
    """An input field is invalid. ``field`` is its dotted path (``labs.platelets.unit``)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class UnitError(InputError):
    """A value's unit is missing, unknown, not convertible, or gives an implausible value."""
