"""Accounts pages: log-in/out, enterprise registration, my account, institution and user
administration, API keys, language switch."""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import urlencode

import qrcode
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.svg import SvgPathImage
from sqlalchemy.orm import Session

from puhui.accounts import certificates, service
from puhui.accounts.errors import InvalidCode, InvalidSecondFactor, LoginFailed
from puhui.accounts.schemas import (
    ApiKeyCreate,
    EnterpriseRegistration,
    InstitutionCreate,
    InstitutionUpdate,
    RegistrationCodeRequest,
    UserCreate,
    UserUpdate,
)
from puhui.accounts.second_factor import PENDING_CODE, PENDING_ENROL
from puhui.core.errors import PuhuiError
from puhui.core.i18n import LOCALES, N_
from puhui.core.limits import RateLimited
from puhui.core.orm import utcnow
from puhui.core.pagination import PageParams
from puhui.core.policy import API_KEY_ROLES, ROLE_KINDS, Action, Actor, InstitutionKind, Role
from puhui.core.web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    TxRoute,
    client_ip,
    db,
    field_messages,
    page_params,
    public,
    redirect,
    register_nav,
    render,
    require,
    safe_next,
    translate,
    validation_details,
)

router = APIRouter(route_class=TxRoute, include_in_schema=False)

register_nav(N_("Home"), "/", Action.SELF, order=0)
register_nav(N_("Institutions"), "/admin/institutions", Action.INSTITUTION_READ, order=60)
register_nav(N_("Users"), "/admin/users", Action.USER_MANAGE, order=61)
register_nav(N_("API keys"), "/admin/api-keys", Action.APIKEY_MANAGE, order=62)
register_nav(N_("My account"), "/account", Action.SELF, order=99)

Text = Annotated[str, Form(max_length=200)]
OptText = Annotated[str, Form(max_length=200)]


def _errors(request: Request, exc: ValidationError | PuhuiError) -> tuple[dict[str, str], str]:
    """Field messages and a summary for a form that failed validation."""
    if isinstance(exc, ValidationError):
        details = validation_details(exc.errors())
        return field_messages(request, details), translate(request, "Some fields are not valid.")
    return field_messages(request, exc.details), translate(request, exc.message, **exc.params)


# --- home, language -----------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> HTMLResponse:
    me = service.get_me(session, actor=actor)
    return render(request, "accounts/home.html", {"me": me}, actor=actor)


@router.get("/lang/{locale}")
def set_language(
    locale: str,
    next: Annotated[str | None, Query(max_length=500)] = None,
    _: Actor | None = public(),
) -> Response:
    response = redirect(safe_next(next))
    if locale in LOCALES:
        response.set_cookie(
            LANG_COOKIE, locale, max_age=365 * 24 * 3600, samesite="lax", httponly=True
        )
    return response


# --- log-in / log-out -----------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    actor: Actor | None = public(),
) -> Response:
    if actor is not None:
        return redirect(safe_next(next))
    return render(request, "accounts/login.html", {"next": safe_next(next), "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> Response:
    settings = request.app.state.settings
    try:
        result = service.login(
            session,
            username=username,
            password=password,
            kind="web",
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            settings=settings,
        )
    except RateLimited as exc:
        session.rollback()
        page = render(
            request,
            "accounts/login.html",
            {
                "next": safe_next(next),
                "username": username,
                "error": translate(request, exc.message, **exc.params),
            },
            status_code=429,
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if not result.ok or result.token is None:
        message = translate(request, LoginFailed.default_message)
        return render(
            request,
            "accounts/login.html",
            {"next": safe_next(next), "username": username, "error": message},
            status_code=401,
        )
    target = safe_next(next)
    if result.pending is not None:
        step = "/login/enrol" if result.pending == PENDING_ENROL else "/login/second-factor"
        target = f"{step}?{urlencode({'next': target})}"
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_absolute_hours * 3600,
    )
    return response


def _pending_token(request: Request, session: Session, state: str) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or service.pending_state(session, token=token) != state:
        return None
    if service.pending_login(session, token=token, settings=request.app.state.settings) is None:
        return None
    return token


def _qr_svg(uri: str) -> Markup:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(uri)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image(image_factory=SvgPathImage).save(out)
    text = out.getvalue().decode()
    return Markup(text[text.index("<svg") :])  # noqa: S704 - generated by qrcode, no input markup


@router.get("/login/second-factor", response_class=HTMLResponse)
def second_factor_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> Response:
    if _pending_token(request, session, PENDING_CODE) is None:
        return redirect("/login")
    return render(request, "accounts/second_factor.html", {"next": safe_next(next)})


@router.post("/login/second-factor", response_class=HTMLResponse)
def second_factor_submit(
    request: Request,
    code: Annotated[str, Form(max_length=32)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> Response:
    token = _pending_token(request, session, PENDING_CODE)
    if token is None:
        return redirect("/login")
    try:
        service.complete_second_factor(
            session,
            token=token,
            code=code,
            ip=client_ip(request),
            settings=request.app.state.settings,
        )
    except InvalidSecondFactor as exc:
        # kept, not rolled back: the failure count and its audit record must commit
        return render(
            request,
            "accounts/second_factor.html",
            {"next": safe_next(next), "error": translate(request, exc.message)},
            status_code=401,
        )
    return redirect(safe_next(next))


@router.get("/login/enrol", response_class=HTMLResponse)
def enrol_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> Response:
    token = _pending_token(request, session, PENDING_ENROL)
    if token is None:
        return redirect("/login")
    uri = service.begin_enrolment(session, token=token)
    return render(
        request,
        "accounts/enrol.html",
        {"next": safe_next(next), "uri": uri, "qr": _qr_svg(uri)},
    )


@router.post("/login/enrol", response_class=HTMLResponse)
def enrol_submit(
    request: Request,
    code: Annotated[str, Form(max_length=32)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> Response:
    token = _pending_token(request, session, PENDING_ENROL)
    if token is None:
        return redirect("/login")
    try:
        codes = service.confirm_enrolment(session, token=token, code=code, ip=client_ip(request))
    except InvalidSecondFactor as exc:
        uri = service.begin_enrolment(session, token=token)
        return render(
            request,
            "accounts/enrol.html",
            {
                "next": safe_next(next),
                "uri": uri,
                "qr": _qr_svg(uri),
                "error": translate(request, exc.message),
            },
            status_code=401,
        )
    return render(
        request, "accounts/recovery_codes.html", {"next": safe_next(next), "codes": codes}
    )


@router.post("/logout")
def logout(actor: Actor = require(Action.SELF), session: Session = Depends(db)) -> Response:
    service.logout(session, actor=actor)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- enterprise registration ----------------------------------------------------------------


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, actor: Actor | None = public()) -> Response:
    if actor is not None:
        return redirect("/")
    return render(request, "accounts/register.html", {"form": {}, "errors": {}})


@router.post("/register/code", response_class=HTMLResponse)
def register_code(
    request: Request,
    mobile: Annotated[str, Form(max_length=20)] = "",
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> HTMLResponse:
    try:
        body = RegistrationCodeRequest(mobile=mobile)
        service.request_registration_code(
            session, mobile=body.mobile, ip=client_ip(request), settings=request.app.state.settings
        )
    except (ValidationError, PuhuiError) as exc:
        errors, summary = _errors(request, exc)
        session.rollback()
        return render(
            request,
            "accounts/_code_status.html",
            {"ok": False, "message": errors.get("mobile", summary)},
            status_code=200,
        )
    return render(
        request,
        "accounts/_code_status.html",
        {
            "ok": True,
            "message": translate(
                request,
                "A code was sent to {mobile}.",
                mobile=body.mobile[:3] + "****" + body.mobile[-4:],
            ),
        },
    )


@router.post("/register", response_class=HTMLResponse)
def register(
    request: Request,
    uscc: Annotated[str, Form(max_length=40)] = "",
    mobile: Annotated[str, Form(max_length=20)] = "",
    code: Annotated[str, Form(max_length=10)] = "",
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    password2: Annotated[str, Form(max_length=200)] = "",
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> Response:
    form = {"uscc": uscc, "mobile": mobile, "username": username, "display_name": display_name}
    try:
        if password != password2:
            errors = {"password2": translate(request, "The two passwords differ.")}
            return render(
                request, "accounts/register.html", {"form": form, "errors": errors}, status_code=422
            )
        data = EnterpriseRegistration(
            uscc=uscc,
            mobile=mobile,
            code=code,
            username=username,
            password=password,
            display_name=display_name,
        )
        service.register_enterprise(
            session, data=data, ip=client_ip(request), settings=request.app.state.settings
        )
    except InvalidCode as exc:  # the attempt count commits with this response
        errors, summary = _errors(request, exc)
        return render(
            request,
            "accounts/register.html",
            {"form": form, "errors": errors, "summary": summary},
            status_code=422,
        )
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        errors, summary = _errors(request, exc)
        return render(
            request,
            "accounts/register.html",
            {"form": form, "errors": errors, "summary": summary},
            status_code=422,
        )
    return render(request, "accounts/registered.html", {"username": data.username})


# --- my account -----------------------------------------------------------------------------


def _account_page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    summary: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "me": service.get_me(session, actor=actor),
        "factor": service.second_factor_status(session, actor=actor),
        "errors": errors or {},
        "summary": summary,
        "notice": notice,
    }
    return render(request, "accounts/account.html", ctx, status_code=status_code, actor=actor)


@router.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> HTMLResponse:
    return _account_page(request, session, actor)


@router.get("/account/second-factor", response_class=HTMLResponse)
def account_enrol_page(
    request: Request, actor: Actor = require(Action.SELF), session: Session = Depends(db)
) -> Response:
    if service.second_factor_status(session, actor=actor)["enrolled"]:
        return redirect("/account")
    uri = service.begin_enrolment(session, actor=actor)
    ctx: dict[str, Any] = {
        "next": "/account",
        "uri": uri,
        "qr": _qr_svg(uri),
        "action": "/account/second-factor",
    }
    return render(request, "accounts/enrol.html", ctx, actor=actor)


@router.post("/account/second-factor", response_class=HTMLResponse)
def account_enrol_submit(
    request: Request,
    code: Annotated[str, Form(max_length=32)] = "",
    actor: Actor = require(Action.SELF),
    session: Session = Depends(db),
) -> Response:
    if service.second_factor_status(session, actor=actor)["enrolled"]:
        return redirect("/account")
    try:
        codes = service.confirm_enrolment(session, code=code, ip=actor.ip, actor=actor)
    except InvalidSecondFactor as exc:
        # kept, not rolled back: the failure's audit record must commit
        uri = service.begin_enrolment(session, actor=actor)
        ctx = {
            "next": "/account",
            "uri": uri,
            "qr": _qr_svg(uri),
            "action": "/account/second-factor",
            "error": translate(request, exc.message),
        }
        return render(request, "accounts/enrol.html", ctx, status_code=422, actor=actor)
    done: dict[str, Any] = {"next": "/account", "codes": codes}
    return render(request, "accounts/recovery_codes.html", done, actor=actor)


@router.post("/account/recovery-codes", response_class=HTMLResponse)
def account_recovery_codes(
    request: Request,
    code: Annotated[str, Form(max_length=32)] = "",
    actor: Actor = require(Action.SELF),
    session: Session = Depends(db),
) -> HTMLResponse:
    try:
        codes = service.new_recovery_codes(session, actor=actor, code=code)
    except InvalidSecondFactor as exc:
        errors = {"code": translate(request, exc.message)}
        return _account_page(request, session, actor, errors=errors, status_code=422)
    done: dict[str, Any] = {"next": "/account", "codes": codes}
    return render(request, "accounts/recovery_codes.html", done, actor=actor)


@router.post("/account/password", response_class=HTMLResponse)
def account_password(
    request: Request,
    current_password: Annotated[str, Form(max_length=200)] = "",
    new_password: Annotated[str, Form(max_length=200)] = "",
    new_password2: Annotated[str, Form(max_length=200)] = "",
    actor: Actor = require(Action.SELF),
    session: Session = Depends(db),
) -> HTMLResponse:
    if new_password != new_password2:
        errors = {"new_password2": translate(request, "The two passwords differ.")}
        return _account_page(request, session, actor, errors=errors, status_code=422)
    try:
        service.change_password(session, actor=actor, current=current_password, new=new_password)
    except PuhuiError as exc:
        session.rollback()
        errors, summary = _errors(request, exc)
        return _account_page(
            request, session, actor, errors=errors, summary=summary, status_code=exc.status
        )
    notice = translate(request, "Your password was changed.")
    return _account_page(request, session, actor, notice=notice)


# --- institutions ---------------------------------------------------------------------------


def _institutions_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    *,
    kind: str | None = None,
    q: str | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    summary: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = service.list_institutions(session, kind=kind, q=q, params=params)
    ctx = {
        "page": page,
        "kinds": list(InstitutionKind),
        "kind": kind or "",
        "q": q or "",
        "form": form or {},
        "errors": errors or {},
        "summary": summary,
    }
    return render(request, "accounts/institutions.html", ctx, status_code=status_code, actor=actor)


@router.get("/admin/institutions", response_class=HTMLResponse)
def institutions_page(
    request: Request,
    kind: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INSTITUTION_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    kind_value = kind if kind in {k.value for k in InstitutionKind} else None
    return _institutions_page(request, session, actor, params, kind=kind_value, q=q or None)


@router.post("/admin/institutions", response_class=HTMLResponse)
def institutions_create(
    request: Request,
    name: Text = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    code: Annotated[str, Form(max_length=40)] = "",
    actor: Actor = require(Action.INSTITUTION_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {"name": name, "kind": kind, "code": code}
    try:
        data = InstitutionCreate.model_validate({"name": name, "kind": kind, "code": code or None})
        inst = service.create_institution(session, actor=actor, data=data)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        errors, summary = _errors(request, exc)
        return _institutions_page(
            request,
            session,
            actor,
            PageParams(),
            form=form,
            errors=errors,
            summary=summary,
            status_code=422,
        )
    return redirect(f"/admin/institutions/{inst.id}")


@router.get("/admin/institutions/{institution_id}", response_class=HTMLResponse)
def institution_detail(
    request: Request,
    institution_id: int,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INSTITUTION_READ, obj="institution"),
    session: Session = Depends(db),
) -> HTMLResponse:
    inst = service.get_institution(session, actor=actor, institution_id=institution_id)
    users = None
    if actor.can(Action.USER_MANAGE):
        users = service.list_users(
            session, actor=actor, role=None, q=None, params=params, institution_id=inst.id
        )
    return render(request, "accounts/institution.html", {"inst": inst, "users": users}, actor=actor)


@router.post("/admin/institutions/{institution_id}/active")
def institution_set_active(
    institution_id: int,
    active: Annotated[bool, Form()],
    actor: Actor = require(Action.INSTITUTION_MANAGE, obj="institution"),
    session: Session = Depends(db),
) -> Response:
    service.update_institution(
        session,
        actor=actor,
        institution_id=institution_id,
        data=InstitutionUpdate(is_active=active),
    )
    return redirect(f"/admin/institutions/{institution_id}")


# --- users ------------------------------------------------------------------------------------


def _creatable_roles(actor: Actor) -> list[Role]:
    if actor.role is Role.INSTITUTION_ADMIN:
        return [
            r
            for r in Role
            if actor.institution_kind in ROLE_KINDS[r]
            and r not in {Role.OPERATOR, Role.REGULATOR, Role.AUDITOR}
        ]
    return [r for r in Role if r is not Role.ENTERPRISE]


def _users_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    *,
    role: str | None = None,
    q: str | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    summary: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = service.list_users(session, actor=actor, role=role, q=q, params=params)
    institutions = service.all_institutions(session) if actor.role is Role.OPERATOR else []
    ctx = {
        "page": page,
        "roles": list(Role),
        "creatable_roles": _creatable_roles(actor),
        "role": role or "",
        "q": q or "",
        "form": form or {},
        "errors": errors or {},
        "summary": summary,
        "institutions": institutions,
        "institution_names": service.institution_names(
            session, {u.institution_id for u in page.items if u.institution_id}
        ),
    }
    return render(request, "accounts/users.html", ctx, status_code=status_code, actor=actor)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    role: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=64)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.USER_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    role_value = role if role in {r.value for r in Role} else None
    return _users_page(request, session, actor, params, role=role_value, q=q or None)


@router.post("/admin/users", response_class=HTMLResponse)
def users_create(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    institution_id: Annotated[str, Form(max_length=12)] = "",
    mobile: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    actor: Actor = require(Action.USER_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "institution_id": institution_id,
        "mobile": mobile,
    }
    try:
        data = UserCreate.model_validate(
            {
                "username": username,
                "display_name": display_name,
                "role": role,
                "password": password,
                "institution_id": institution_id or None,
                "mobile": mobile or None,
            }
        )
        user = service.create_user(session, actor=actor, data=data)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        errors, summary = _errors(request, exc)
        return _users_page(
            request,
            session,
            actor,
            PageParams(),
            form=form,
            errors=errors,
            summary=summary,
            status_code=422,
        )
    return redirect(f"/admin/users/{user.id}")


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_detail(
    request: Request,
    user_id: int,
    actor: Actor = require(Action.USER_MANAGE, obj="user"),
    session: Session = Depends(db),
) -> HTMLResponse:
    user = service.get_user(session, actor=actor, user_id=user_id)
    return render(
        request,
        "accounts/user.html",
        {
            "user": user,
            "roles": _creatable_roles(actor),
            "errors": {},
            "has_factor": service.user_has_second_factor(session, user_id=user.id),
        },
        actor=actor,
    )


@router.post("/admin/users/{user_id}/second-factor/reset")
def user_second_factor_reset(
    user_id: int,
    actor: Actor = require(Action.USER_MANAGE, obj="user"),
    session: Session = Depends(db),
) -> Response:
    service.reset_second_factor(session, actor=actor, user_id=user_id)
    return redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def user_update(
    request: Request,
    user_id: int,
    display_name: Annotated[str | None, Form(max_length=100)] = None,
    role: Annotated[str | None, Form(max_length=32)] = None,
    active: Annotated[str | None, Form(max_length=5)] = None,
    actor: Actor = require(Action.USER_MANAGE, obj="user"),
    session: Session = Depends(db),
) -> Response:
    try:
        data = UserUpdate.model_validate(
            {
                "display_name": display_name,
                "role": role or None,
                "is_active": None if active is None else active == "true",
            }
        )
        service.update_user(session, actor=actor, user_id=user_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        user = service.get_user(session, actor=actor, user_id=user_id)
        errors, summary = _errors(request, exc)
        return render(
            request,
            "accounts/user.html",
            {
                "user": user,
                "roles": _creatable_roles(actor),
                "errors": errors,
                "summary": summary,
                "has_factor": service.user_has_second_factor(session, user_id=user.id),
            },
            status_code=422,
            actor=actor,
        )
    return redirect(f"/admin/users/{user_id}")


# --- API keys ---------------------------------------------------------------------------------


def _api_keys_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    *,
    created: str | None = None,
    errors: dict[str, str] | None = None,
    summary: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = service.list_api_keys(session, actor=actor, params=params)
    roles = [r for r in API_KEY_ROLES if actor.institution_kind in ROLE_KINDS[r]]
    certs = certificates.list_for_institution(
        session, actor=actor, params=PageParams(page=1, per_page=100)
    )
    ctx = {
        "page": page,
        "roles": sorted(roles),
        "created": created,
        "errors": errors or {},
        "summary": summary,
        "certificates": certs.items,
        "usable": certificates.usable_for_institution(session, actor=actor),
        "serials": {c.id: c.serial for c in certs.items},
        "require_cert": certificates.is_required(session, actor=actor),
        "status_labels": certificates.STATUS_LABELS,
        "now": utcnow(),
    }
    return render(request, "accounts/api_keys.html", ctx, status_code=status_code, actor=actor)


@router.get("/admin/api-keys", response_class=HTMLResponse)
def api_keys_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.APIKEY_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _api_keys_page(request, session, actor, params)


@router.post("/admin/api-keys", response_class=HTMLResponse)
def api_keys_create(
    request: Request,
    name: Text = "",
    role: Annotated[str, Form(max_length=32)] = "",
    actor: Actor = require(Action.APIKEY_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    try:
        _, raw = service.create_api_key(
            session, actor=actor, data=ApiKeyCreate.model_validate({"name": name, "role": role})
        )
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        errors, summary = _errors(request, exc)
        return _api_keys_page(
            request, session, actor, PageParams(), errors=errors, summary=summary, status_code=422
        )
    return _api_keys_page(request, session, actor, PageParams(), created=raw, status_code=201)


@router.post("/admin/api-keys/{key_id}/certificate", response_class=HTMLResponse)
def api_keys_bind_certificate(
    request: Request,
    key_id: int,
    certificate_id: Annotated[str, Form(max_length=20)] = "",
    actor: Actor = require(Action.APIKEY_MANAGE, obj="api_key"),
    session: Session = Depends(db),
) -> Response:
    try:
        chosen = int(certificate_id) if certificate_id.strip() else None
    except ValueError:
        chosen = -1  # no certificate has this id: answered as "not found" below
    try:
        certificates.bind(session, actor=actor, key_id=key_id, certificate_id=chosen)
    except PuhuiError as exc:
        if exc.status == 404 and not exc.details:
            raise  # the key is not this institution's
        session.rollback()
        errors, summary = _errors(request, exc)
        return _api_keys_page(
            request, session, actor, PageParams(), errors=errors, summary=summary, status_code=422
        )
    return redirect("/admin/api-keys")


@router.post("/admin/api-keys/require-certificate")
def api_keys_require_certificate(
    required: Annotated[str, Form(max_length=5)] = "",
    actor: Actor = require(Action.APIKEY_MANAGE),
    session: Session = Depends(db),
) -> Response:
    certificates.set_required(session, actor=actor, required=required == "on")
    return redirect("/admin/api-keys")


@router.post("/admin/api-keys/{key_id}/revoke")
def api_keys_revoke(
    key_id: int,
    actor: Actor = require(Action.APIKEY_MANAGE, obj="api_key"),
    session: Session = Depends(db),
) -> Response:
    service.revoke_api_key(session, actor=actor, key_id=key_id)
    return redirect("/admin/api-keys")
