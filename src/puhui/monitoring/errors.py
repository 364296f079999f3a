from __future__ import annotations

from typing import Any

from puhui.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)


class NotALender(PermissionDenied):
    default_code = "not_a_lender"
    default_message = "Only staff of lending institutions can monitor borrowers."


class WatchNotFound(NotFound):
    default_code = "watch_not_found"
    default_message = "No such entry on your watchlist."


class RuleNotFound(NotFound):
    default_code = "rule_not_found"
    default_message = "No such rule."


class AlertNotFound(NotFound):
    default_code = "alert_not_found"
    default_message = "No such alert."


class AlreadyWatched(Conflict):
    default_code = "already_watched"
    default_message = "{uscc} is on your watchlist already."


class NotWatched(Conflict):
    default_code = "not_watched"
    default_message = "This borrower is no longer on your watchlist."


class InvalidMonitoringInput(ValidationFailed):
    default_code = "invalid_monitoring_input"
    default_message = "Some fields are not valid."

    @classmethod
    def at(cls, field: str, message: str, **params: Any) -> InvalidMonitoringInput:
        return cls(
            message, details=[{"field": field, "message": message, "params": params}], **params
        )


class DownloadNotFound(NotFound):
    default_code = "download_not_found"
    default_message = "No such download."


class DownloadExpired(Conflict):
    default_code = "download_expired"
    default_message = "This package is no longer kept; request the download again."


class DownloadQuotaExceeded(TooManyRequests):
    default_code = "download_quota_exceeded"
    default_message = (
        "This download has {rows} rows; your institution has {left} of its {limit} daily "
        "rows left. Nothing was downloaded."
    )


class NothingToDownload(Conflict):
    default_code = "nothing_to_download"
    default_message = "None of the chosen entities can be downloaded; see the reasons listed."
