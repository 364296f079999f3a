"""Entity registry services (the public face of the ``entities`` domain)."""

from __future__ import annotations

from puhui.entities.uscc import (
    EntityKind,
    InvalidUSCC,
    is_valid,
    kind_of,
    make,
    normalize,
    validate,
)

__all__ = ["EntityKind", "InvalidUSCC", "is_valid", "kind_of", "make", "normalize", "validate"]
