from __future__ import annotations

from puhui.core.errors import Conflict, NotFound, ValidationFailed


class DemandNotFound(NotFound):
    default_code = "demand_not_found"
    default_message = "No such financing demand."


class ClaimNotFound(NotFound):
    default_code = "claim_not_found"
    default_message = "No such claim."


class ProductNotFound(NotFound):
    default_code = "product_not_found"
    default_message = "No such loan product."


class EventNotFound(NotFound):
    default_code = "event_not_found"
    default_message = "No such financing event."


class LoanCodeNotFound(NotFound):
    default_code = "loan_code_not_found"
    default_message = "No such loan code."


class CallbackNotFound(NotFound):
    default_code = "callback_not_found"
    default_message = "No such callback."


class ClaimsFull(Conflict):
    default_code = "claims_full"
    default_message = (
        "3 institutions are already working on this demand, the most allowed. "
        "It returns to the pool if one of them lets it go."
    )


class AlreadyClaimed(Conflict):
    default_code = "already_claimed"
    default_message = (
        "Your institution has already claimed this demand (one claim per institution)."
    )


class DemandClosed(Conflict):
    default_code = "demand_closed"
    default_message = "This demand is {state}; it can no longer be claimed or changed."


class NotInPool(Conflict):
    default_code = "not_in_pool"
    default_message = "This demand is not open to your institution."


class ClaimStepInvalid(Conflict):
    default_code = "claim_step"
    default_message = "A claim that is {state} cannot become {to}."


class StepNeedsValue(ValidationFailed):
    default_code = "claim_step_value"
    default_message = "Moving a claim to {to} needs {field}."


class WebhookRejected(ValidationFailed):
    default_code = "webhook_rejected"
    default_status = 401
    default_message = "The webhook signature is missing, wrong or too old."
