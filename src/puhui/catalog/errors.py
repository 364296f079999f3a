from __future__ import annotations

from puhui.core.errors import Conflict, NotFound, ValidationFailed


class IndicatorNotFound(NotFound):
    default_code = "indicator_not_found"
    default_message = "No such indicator."


class CatalogFileInvalid(ValidationFailed):
    default_code = "catalog_file_invalid"
    default_message = "The indicator catalog file is not valid."


class CatalogChangedWithoutVersion(Conflict):
    default_code = "catalog_changed_without_version"
    default_message = (
        "The indicator catalog file changed but its version did not; bump VERSION and "
        "describe the change in CHANGES.md."
    )
