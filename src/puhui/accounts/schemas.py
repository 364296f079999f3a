"""Accounts schemas. Input schemas forbid unknown fields, so nobody can mass-assign a
role, an institution or a status they were not offered."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_serializer,
    field_validator,
)

from puhui.core.i18n import N_
from puhui.core.masking import mask_mobile
from puhui.core.policy import InstitutionKind, Role

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def check_mobile(value: str) -> str:
    value = value.strip().replace(" ", "").replace("-", "")
    if value.startswith("+86"):
        value = value[3:]
    if not MOBILE_RE.fullmatch(value):
        raise ValueError(N_("A mainland mobile number has 11 digits and starts with 13-19."))
    return value


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstitutionCreate(Input):
    name: Name
    kind: InstitutionKind
    code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None


class InstitutionUpdate(Input):
    name: Name | None = None
    is_active: bool | None = None


class InstitutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: InstitutionKind
    code: str | None
    is_active: bool
    created_at: datetime


class UserCreate(Input):
    username: Username
    password: Password
    role: Role
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    institution_id: int | None = None
    entity_uscc: str | None = None
    mobile: str | None = None

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        return None if value in (None, "") else check_mobile(value)


class UserUpdate(Input):
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None
    ) = None
    is_active: bool | None = None
    role: Role | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    institution_id: int | None
    entity_uscc: str | None
    mobile: str | None
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime

    @field_serializer("mobile")
    def _mask(self, value: str | None) -> str | None:
        return mask_mobile(value) if value else None


class MeRead(UserRead):
    institution_name: str | None = None


class PasswordChange(Input):
    current_password: Password
    new_password: Password


class SecondFactorCode(Input):
    code: str = Field(
        min_length=6, max_length=32, description="A 6-digit authenticator code or a recovery code"
    )


class SecondFactorEnrolment(BaseModel):
    otpauth_uri: str


class SecondFactorRecovery(BaseModel):
    recovery_codes: list[str]


class SecondFactorStatus(BaseModel):
    enrolled: bool
    recovery_codes_left: int


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class ApiKeyCreate(Input):
    name: Name
    role: Role


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    client_certificate_id: int | None = Field(
        None, description="The client certificate the key is bound to (mTLS), if any."
    )


class ApiKeyCertificateBinding(Input):
    certificate_id: int | None = Field(
        description="One of your institution's valid client certificates; null unbinds."
    )


class ClientCertificateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    serial: str
    subject: str
    fingerprint: str = Field(description="Hex SHA-256 of the certificate (DER).")
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    pem: str


class ClientCertificatePolicy(Input):
    required: bool = Field(
        description="Every API key of the institution must be bound to a client certificate."
    )


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="Shown once; store it now. The platform keeps only a digest.")


class RegistrationCodeRequest(Input):
    mobile: str

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str) -> str:
        return check_mobile(value)


class EnterpriseRegistration(Input):
    uscc: str
    mobile: str
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]
    username: Username
    password: Password
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str) -> str:
        return check_mobile(value)
