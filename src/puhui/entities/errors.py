from __future__ import annotations

from puhui.core.errors import NotFound, ValidationFailed


class EntityNotFound(NotFound):
    default_code = "entity_not_found"
    default_message = "No entity with this USCC is registered."


class MalformedUSCC(ValidationFailed):
    default_code = "malformed_uscc"
    default_message = "This is not a valid unified social credit code."
