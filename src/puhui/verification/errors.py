"""Identity-verification errors (one class per way it can go wrong)."""

from __future__ import annotations

from puhui.core.errors import Conflict, NotFound, PermissionDenied, PuhuiError
from puhui.core.i18n import N_

VERIFY_FIRST = N_(
    "Verify the identity of your legal representative first, on the Identity verification page."
)


class VerificationRequired(PermissionDenied):
    """The gate: an enterprise account whose legal representative is not verified."""

    default_code = "identity_verification_required"
    default_message = VERIFY_FIRST

    def __init__(self) -> None:
        super().__init__(
            details=[{"field": "verification", "message": VERIFY_FIRST, "link": "/verification"}]
        )


class ReviewNeedsSecondFactor(PermissionDenied):
    """The whole ID number and the photos are shown only after a recent check of the
    reviewer's second factor (as for every unmasked view)."""

    default_code = "second_factor_required"
    default_message = N_(
        "Seeing the whole ID number and the photos needs a recent check of your "
        "authenticator app: enter its code first."
    )


class VerificationNotFound(NotFound):
    default_code = "verification_not_found"
    default_message = N_("No such identity verification.")


class WrongState(Conflict):
    default_code = "verification_wrong_state"
    default_message = N_("This identity verification is {state}: it cannot be changed now.")


class AlreadyVerified(Conflict):
    default_code = "already_verified"
    default_message = N_("The legal representative of this entity is already verified.")


class ProviderUnavailable(PuhuiError):
    default_code = "verification_provider_unavailable"
    default_status = 502
    default_message = N_("The identity-verification service did not answer; try again later.")


class CallbackRejected(PuhuiError):
    """A provider callback that is not signed, too old, malformed or about nothing we know.
    400 (not 401/403): the caller is a machine that must fix its request."""

    default_code = "callback_rejected"
    default_status = 400
    default_message = N_("The callback was refused: {reason}.")


class CallbackReplayed(Conflict):
    default_code = "callback_replayed"
    default_message = N_("This callback was already received.")
