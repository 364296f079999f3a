from __future__ import annotations

from typing import Any

from puhui.core.errors import PermissionDenied, ValidationFailed


class InvalidFilter(ValidationFailed):
    """A condition the filter cannot run: ``details`` names it by its path in the request
    (``conditions.2.indicator``, ``conditions.0.any.1.hi``)."""

    default_code = "invalid_filter"
    default_message = "The filter is not valid."

    @classmethod
    def at(cls, field: str, message: str, **params: Any) -> InvalidFilter:
        return cls(
            message, details=[{"field": field, "message": message, "params": params}], **params
        )


class NotALender(PermissionDenied):
    default_code = "not_a_lender"
    default_message = "Only staff of lending institutions can search for prospects."
