from __future__ import annotations

from typing import Any

from puhui.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class InvalidScorecard(ValidationFailed):
    """A scorecard definition that cannot be scored: ``details`` lists every problem by its
    path in the JSON (``features.2.bins.1.lo``, ``cutoffs.0.min_score``)."""

    default_code = "invalid_scorecard"
    default_message = "The scorecard is not valid."

    @classmethod
    def at(cls, field: str, message: str, **params: Any) -> InvalidScorecard:
        return cls(
            message, details=[{"field": field, "message": message, "params": params}], **params
        )


class InvalidSample(ValidationFailed):
    """A labelled sample the platform cannot train on; ``details`` names the row/column."""

    default_code = "invalid_sample"
    default_message = "The labelled sample is not valid."

    @classmethod
    def at(cls, field: str, message: str, **params: Any) -> InvalidSample:
        return cls(
            message, details=[{"field": field, "message": message, "params": params}], **params
        )


class ModelNotFound(NotFound):
    default_code = "model_not_found"
    default_message = "No such model."


class VersionNotFound(NotFound):
    default_code = "model_version_not_found"
    default_message = "No such model version."


class VersionStateConflict(Conflict):
    default_code = "model_version_state"
    default_message = "This model version is {state}; it cannot be {change} now."


class NotApproved(Conflict):
    default_code = "model_version_not_approved"
    default_message = "Model version {id} is {state}; only an approved version can score."


class SameMaker(PermissionDenied):
    default_code = "maker_checker"
    default_message = (
        "The person who submitted a model version cannot approve or reject it; another "
        "user of your institution must check it."
    )


class NoSnapshot(Conflict):
    default_code = "no_snapshot"
    default_message = "There is no indicator snapshot yet; ingest data first."


class NoBatchRun(Conflict):
    default_code = "no_batch_run"
    default_message = "This model version has not scored the population yet."


class NoBaseline(Conflict):
    default_code = "no_psi_baseline"
    default_message = (
        "There is nothing to compare yet: the version has no baseline population or there "
        "is no snapshot."
    )


class NoApprovedVersion(Conflict):
    default_code = "no_approved_version"
    default_message = "Model {id} has no approved version to score with."
