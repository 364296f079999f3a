from __future__ import annotations

from puhui.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)

LOGIN_FAILED_MESSAGE = (
    "Wrong username or password, or the account is locked for a while after too many failed "
    "attempts."
)


class LoginFailed(NotAuthenticated):
    default_code = "login_failed"
    default_message = LOGIN_FAILED_MESSAGE


class InstitutionNotFound(NotFound):
    default_code = "institution_not_found"
    default_message = "No such institution."


class UserNotFound(NotFound):
    default_code = "user_not_found"
    default_message = "No such user."


class ApiKeyNotFound(NotFound):
    default_code = "api_key_not_found"
    default_message = "No such API key."


class DuplicateUsername(Conflict):
    default_code = "duplicate_username"
    default_message = "The username {username} is taken."


class DuplicateInstitution(Conflict):
    default_code = "duplicate_institution"
    default_message = "An institution with this name or code already exists."


class InvalidCode(ValidationFailed):
    default_code = "invalid_code"
    default_message = "The one-time code is wrong or has expired."


class CodeTooSoon(TooManyRequests):
    default_code = "code_too_soon"
    default_message = "A code was sent less than a minute ago; wait before asking again."


class InvalidSecondFactor(NotAuthenticated):
    default_code = "second_factor_invalid"
    default_message = "The authenticator or recovery code is wrong or was already used."


class SecondFactorRequired(NotAuthenticated):
    default_code = "second_factor_required"
    default_message = "Enter the code from your authenticator app (form field otp)."


class SecondFactorEnrolmentRequired(PermissionDenied):
    default_code = "second_factor_enrolment_required"
    default_message = (
        "Institution administrators must set up an authenticator app: log in on the web to enrol."
    )


class SecondFactorAlreadyEnrolled(Conflict):
    default_code = "second_factor_enrolled"
    default_message = "An authenticator is already set up for this account."


class CertificateNotFound(NotFound):
    default_code = "certificate_not_found"
    default_message = "No such client certificate."


class ClientCertificateRejected(PermissionDenied):
    """A key that needs a client certificate came without the one it is bound to.

    Answered 401 (the caller must authenticate differently), but a denial: the app's
    handler records every PermissionDenied in the audit chain apart from the request's
    rolled-back transaction, with the reason and the key's id among its details."""

    default_status = 401
    default_code = "client_certificate_required"
    default_message = (
        "This API key is bound to a client certificate: call over mutual TLS with that certificate."
    )
