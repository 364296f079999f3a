"""Test factories: institutions, users, log-ins. They go through the services, so what
they create is what the platform would create."""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.accounts.models import Institution, User
from puhui.accounts.schemas import InstitutionCreate, UserCreate
from puhui.core.policy import InstitutionKind, Role
from puhui.entities import service as entities
from tests.conftest import csrf_from

PASSWORD = "Secret-pass-2026"
_seq = itertools.count(1)

KIND_FOR_ROLE = {
    Role.CUSTOMER_MANAGER: InstitutionKind.BANK,
    Role.RISK_MANAGER: InstitutionKind.BANK,
    Role.INSTITUTION_ADMIN: InstitutionKind.BANK,
    Role.OPERATOR: InstitutionKind.PLATFORM,
    Role.DATA_STEWARD: InstitutionKind.DATA_SOURCE,
    Role.REGULATOR: InstitutionKind.REGULATOR,
    Role.AUDITOR: InstitutionKind.REGULATOR,
}


def institution(
    session: Session, kind: InstitutionKind = InstitutionKind.BANK, name: str | None = None
) -> Institution:
    n = next(_seq)
    return accounts.create_institution(
        session,
        actor=None,
        data=InstitutionCreate(name=name or f"测试机构{n}", kind=kind, code=f"T{n:05d}"),
    )


def uscc(n: int | None = None) -> str:
    n = next(_seq) if n is None else n
    return entities.make(f"91330203MA{n:07d}")


def user(
    session: Session,
    role: Role,
    inst: Institution | None = None,
    *,
    username: str | None = None,
    password: str = PASSWORD,
    mobile: str | None = None,
    verified: bool = True,
) -> User:
    n = next(_seq)
    if role is Role.ENTERPRISE:
        inst = None
    elif inst is None:
        inst = institution(session, KIND_FOR_ROLE[role])
    created = accounts.create_user(
        session,
        actor=None,
        data=UserCreate(
            username=username or f"{role.value}_{n}",
            password=password,
            role=role,
            institution_id=inst.id if inst else None,
            entity_uscc=uscc() if role is Role.ENTERPRISE else None,
            mobile=mobile,
        ),
    )
    if role is Role.ENTERPRISE and verified:
        verify(session, created)
    return created


def verify(session: Session, user: User) -> None:
    """Mark an enterprise user's legal representative verified for its current entity
    (decision 0019), as if an operator had approved it: without a subject index, so the
    gate does not compare it with the registry. Call again after rebinding the user."""
    from puhui.core.orm import utcnow
    from puhui.verification.models import VERIFIED, IdentityVerification

    assert user.entity_uscc
    now = utcnow()
    session.add(
        IdentityVerification(
            user_id=user.id,
            entity_uscc=user.entity_uscc,
            provider="manual",
            reference=f"factory-{user.id}-{next(_seq)}",
            status=VERIFIED,
            claimed_name="测试法人",
            claimed_id_number="110101199003074219",
            expires_at=now,
            decided_at=now,
        )
    )
    session.flush()


def token(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def web_login(
    client: TestClient, username: str, password: str = PASSWORD, *, otp: str | None = None
) -> str:
    """Log a TestClient in through the form (and its second step when ``otp`` is given);
    returns the CSRF token of the new session."""
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "next": "/",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    if otp is not None:
        assert r.headers["location"].startswith("/login/second-factor")
        step = client.get(r.headers["location"])
        done = client.post(
            "/login/second-factor",
            data={"code": otp, "next": "/", "csrf_token": csrf_from(step.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
    return csrf_from(client.get("/account").text)


def enrol_second_factor(session: Session, user: User) -> str:
    """Give ``user`` a confirmed authenticator; returns its TOTP secret."""
    from puhui.accounts import second_factor
    from puhui.core.orm import utcnow

    uri = second_factor.begin_enrolment(session, user=user)
    secret = uri.split("secret=")[1].split("&")[0]
    factor = second_factor.repository.second_factor(session, user.id)
    assert factor is not None
    factor.confirmed_at = utcnow()
    session.flush()
    return secret
