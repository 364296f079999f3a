"""Accounts API (``/api/v1``): tokens, registration, me, institutions, users, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from sqlalchemy.orm import Session

from puhui.accounts import certificates, service
from puhui.accounts.errors import (
    InvalidCode,
    InvalidSecondFactor,
    LoginFailed,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
)
from puhui.accounts.schemas import (
    ApiKeyCertificateBinding,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ClientCertificatePolicy,
    ClientCertificateRead,
    EnterpriseRegistration,
    InstitutionCreate,
    InstitutionRead,
    InstitutionUpdate,
    MeRead,
    PasswordChange,
    RegistrationCodeRequest,
    SecondFactorCode,
    SecondFactorEnrolment,
    SecondFactorRecovery,
    SecondFactorStatus,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from puhui.core.errors import PuhuiError
from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor, InstitutionKind, Role
from puhui.core.web import TxRoute, client_ip, db, error_response, page_params, public, require

router = APIRouter(prefix="/api/v1", route_class=TxRoute, tags=["accounts"])

SECOND_STEP_ERRORS: dict[str, type[PuhuiError]] = {
    "second_factor_invalid": InvalidSecondFactor,
    "second_factor_required": SecondFactorRequired,
    "second_factor_enrolment_required": SecondFactorEnrolmentRequired,
}


@router.post(
    "/auth/token",
    response_model=TokenRead,
    summary="Exchange a username and password for a bearer token",
)
def issue_token(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    otp: Annotated[
        str | None,
        Form(
            max_length=32,
            description="Authenticator code or recovery code, for accounts with a second factor",
        ),
    ] = None,
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> TokenRead | Response:
    settings = request.app.state.settings
    result = service.login(
        session,
        username=username,
        password=password,
        kind="token",
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        settings=settings,
        otp=otp or None,
    )
    if not result.ok or result.token is None:
        # returned, not raised: the failure count and its audit record must commit
        failure = SECOND_STEP_ERRORS.get(result.failure or "", LoginFailed)
        return error_response(request, failure())
    return TokenRead(access_token=result.token, expires_in=settings.token_hours * 3600)


@router.get(
    "/auth/second-factor",
    response_model=SecondFactorStatus,
    summary="Whether I have an authenticator and how many recovery codes are left",
)
def second_factor_status(
    actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> SecondFactorStatus:
    return SecondFactorStatus.model_validate(service.second_factor_status(session, actor=actor))


@router.post(
    "/auth/second-factor",
    response_model=SecondFactorEnrolment,
    summary="Start enrolling an authenticator app (returns the otpauth URI)",
)
def second_factor_begin(
    actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> SecondFactorEnrolment:
    return SecondFactorEnrolment(otpauth_uri=service.begin_enrolment(session, actor=actor))


@router.post(
    "/auth/second-factor/confirm",
    response_model=SecondFactorRecovery,
    summary="Confirm the authenticator with a code; returns the recovery codes once",
)
def second_factor_confirm(
    data: SecondFactorCode, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> SecondFactorRecovery:
    codes = service.confirm_enrolment(session, code=data.code, ip=actor.ip, actor=actor)
    return SecondFactorRecovery(recovery_codes=codes)


@router.post(
    "/auth/second-factor/verify",
    status_code=204,
    summary="Check my second factor again (needed shortly before revealing personal values)",
)
def second_factor_verify(
    data: SecondFactorCode, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> Response:
    try:
        service.step_up(session, actor=actor, code=data.code)
    except InvalidSecondFactor:
        session.commit()  # the failure's audit record and its count stay
        raise
    return Response(status_code=204)


@router.post("/auth/logout", status_code=204, summary="Revoke the bearer token used for this call")
def revoke_token(actor: Actor = require(Action.SELF), session: Session = Depends(db)) -> Response:
    service.logout(session, actor=actor)
    return Response(status_code=204)


@router.post(
    "/auth/register/code", status_code=202, summary="Send a registration code to a mobile number"
)
def registration_code(
    request: Request,
    body: RegistrationCodeRequest,
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> dict[str, str]:
    service.request_registration_code(
        session, mobile=body.mobile, ip=client_ip(request), settings=request.app.state.settings
    )
    return {"status": "sent"}


@router.post(
    "/auth/register",
    status_code=201,
    response_model=UserRead,
    summary="Register an enterprise user",
)
def register(
    request: Request,
    body: EnterpriseRegistration,
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> UserRead | Response:
    try:
        user = service.register_enterprise(
            session, data=body, ip=client_ip(request), settings=request.app.state.settings
        )
    except InvalidCode as exc:
        return error_response(request, exc)  # the attempt count commits
    return UserRead.model_validate(user)


@router.get("/me", response_model=MeRead, summary="The calling user")
def me(actor: Actor = require(Action.SELF), session: Session = Depends(db)) -> MeRead:
    user = service.get_me(session, actor=actor)
    read = MeRead.model_validate(user)
    read.institution_name = user.institution.name if user.institution else None
    return read


@router.post("/me/password", status_code=204, summary="Change my password")
def change_password(
    body: PasswordChange, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> Response:
    service.change_password(
        session, actor=actor, current=body.current_password, new=body.new_password
    )
    return Response(status_code=204)


@router.get("/institutions", response_model=PageRead[InstitutionRead], summary="List institutions")
def list_institutions(
    kind: InstitutionKind | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INSTITUTION_READ),
    session: Session = Depends(db),
) -> PageRead[InstitutionRead]:
    page = service.list_institutions(session, kind=kind.value if kind else None, q=q, params=params)
    return page_read(InstitutionRead, page)


@router.post(
    "/institutions",
    status_code=201,
    response_model=InstitutionRead,
    summary="Create an institution",
)
def create_institution(
    body: InstitutionCreate,
    actor: Actor = require(Action.INSTITUTION_MANAGE),
    session: Session = Depends(db),
) -> InstitutionRead:
    return InstitutionRead.model_validate(
        service.create_institution(session, actor=actor, data=body)
    )


@router.get(
    "/institutions/{institution_id}", response_model=InstitutionRead, summary="One institution"
)
def get_institution(
    institution_id: int,
    actor: Actor = require(Action.INSTITUTION_READ, obj="institution"),
    session: Session = Depends(db),
) -> InstitutionRead:
    return InstitutionRead.model_validate(
        service.get_institution(session, actor=actor, institution_id=institution_id)
    )


@router.patch(
    "/institutions/{institution_id}",
    response_model=InstitutionRead,
    summary="Rename, enable or disable an institution",
)
def update_institution(
    institution_id: int,
    body: InstitutionUpdate,
    actor: Actor = require(Action.INSTITUTION_MANAGE, obj="institution"),
    session: Session = Depends(db),
) -> InstitutionRead:
    inst = service.update_institution(
        session, actor=actor, institution_id=institution_id, data=body
    )
    return InstitutionRead.model_validate(inst)


@router.get(
    "/users",
    response_model=PageRead[UserRead],
    summary="List users (an administrator's own institution)",
)
def list_users(
    role: Role | None = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: int | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.USER_MANAGE),
    session: Session = Depends(db),
) -> PageRead[UserRead]:
    page = service.list_users(
        session,
        actor=actor,
        role=role.value if role else None,
        q=q,
        params=params,
        institution_id=institution_id,
    )
    return page_read(UserRead, page)


@router.post("/users", status_code=201, response_model=UserRead, summary="Create a user")
def create_user(
    body: UserCreate, actor: Actor = require(Action.USER_MANAGE), session: Session = Depends(db)
) -> UserRead:
    return UserRead.model_validate(service.create_user(session, actor=actor, data=body))


@router.get("/users/{user_id}", response_model=UserRead, summary="One user")
def get_user(
    user_id: int,
    actor: Actor = require(Action.USER_MANAGE, obj="user"),
    session: Session = Depends(db),
) -> UserRead:
    return UserRead.model_validate(service.get_user(session, actor=actor, user_id=user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    summary="Rename, change role, enable or disable a user",
)
def update_user(
    user_id: int,
    body: UserUpdate,
    actor: Actor = require(Action.USER_MANAGE, obj="user"),
    session: Session = Depends(db),
) -> UserRead:
    return UserRead.model_validate(
        service.update_user(session, actor=actor, user_id=user_id, data=body)
    )


@router.get("/api-keys", response_model=PageRead[ApiKeyRead], summary="My institution's API keys")
def list_api_keys(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.APIKEY_MANAGE),
    session: Session = Depends(db),
) -> PageRead[ApiKeyRead]:
    page = service.list_api_keys(session, actor=actor, params=params)
    return page_read(ApiKeyRead, page)


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key (shown once)",
)
def create_api_key(
    body: ApiKeyCreate, actor: Actor = require(Action.APIKEY_MANAGE), session: Session = Depends(db)
) -> ApiKeyCreated:
    key, raw = service.create_api_key(session, actor=actor, data=body)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=raw)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, summary="Revoke an API key")
def revoke_api_key(
    key_id: int,
    actor: Actor = require(Action.APIKEY_MANAGE, obj="api_key"),
    session: Session = Depends(db),
) -> ApiKeyRead:
    return ApiKeyRead.model_validate(service.revoke_api_key(session, actor=actor, key_id=key_id))


@router.put(
    "/api-keys/{key_id}/certificate",
    response_model=ApiKeyRead,
    summary="Bind an API key to a client certificate (mTLS), or unbind it",
)
def bind_api_key_certificate(
    key_id: int,
    body: ApiKeyCertificateBinding,
    actor: Actor = require(Action.APIKEY_MANAGE, obj="api_key"),
    session: Session = Depends(db),
) -> ApiKeyRead:
    key = certificates.bind(session, actor=actor, key_id=key_id, certificate_id=body.certificate_id)
    return ApiKeyRead.model_validate(key)


@router.get(
    "/client-certificates",
    response_model=PageRead[ClientCertificateRead],
    summary="My institution's client certificates (issued by the platform CA)",
)
def list_client_certificates(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.APIKEY_MANAGE),
    session: Session = Depends(db),
) -> PageRead[ClientCertificateRead]:
    page = certificates.list_for_institution(session, actor=actor, params=params)
    return page_read(ClientCertificateRead, page)


@router.put(
    "/client-certificates/policy",
    response_model=ClientCertificatePolicy,
    summary="Require a bound client certificate for every API key of my institution",
)
def set_client_certificate_policy(
    body: ClientCertificatePolicy,
    actor: Actor = require(Action.APIKEY_MANAGE),
    session: Session = Depends(db),
) -> ClientCertificatePolicy:
    inst = certificates.set_required(session, actor=actor, required=body.required)
    return ClientCertificatePolicy(required=inst.require_client_cert)
