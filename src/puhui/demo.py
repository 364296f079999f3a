"""Demo institutions and users: two banks, a guarantor, a data-source department, the
platform operator and the regulator, and one user of every role. Running it twice changes
nothing the second time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from puhui.accounts import service as accounts
from puhui.accounts.schemas import InstitutionCreate, UserCreate
from puhui.config import Settings
from puhui.core.db import session_scope
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.entities import service as entities

DEMO_PASSWORD = "Demo@2026puhui"  # noqa: S105 - printed for the demo; refused outside development
DEMO_ENTERPRISE_USCC = entities.make("91330203MA2H3K4L5")

INSTITUTIONS: list[tuple[str, InstitutionKind, str]] = [
    ("普惠平台运营中心", InstitutionKind.PLATFORM, "PLATFORM"),
    ("中国人民银行宁波市分行", InstitutionKind.REGULATOR, "PBOC-NB"),
    ("宁波甬城银行", InstitutionKind.BANK, "BANK-YC"),
    ("宁波海曙农商银行", InstitutionKind.BANK, "BANK-HS"),
    ("宁波市融资担保有限公司", InstitutionKind.GUARANTOR, "GUAR-NB"),
    ("宁波市税务局", InstitutionKind.DATA_SOURCE, "SRC-TAX"),
]

# username, display name, role, institution (None: enterprise), mobile
USERS: list[tuple[str, str, Role, str | None, str | None]] = [
    ("operator", "平台运营员", Role.OPERATOR, "普惠平台运营中心", None),
    ("platform_admin", "平台管理员", Role.INSTITUTION_ADMIN, "普惠平台运营中心", None),
    ("auditor", "审计员", Role.AUDITOR, "普惠平台运营中心", None),
    ("regulator", "监管员", Role.REGULATOR, "中国人民银行宁波市分行", None),
    ("bank_admin", "甬城银行管理员", Role.INSTITUTION_ADMIN, "宁波甬城银行", None),
    ("bank_cm", "甬城银行客户经理", Role.CUSTOMER_MANAGER, "宁波甬城银行", "13800000001"),
    ("bank_risk", "甬城银行风险经理", Role.RISK_MANAGER, "宁波甬城银行", "13800000002"),
    ("bank2_admin", "海曙农商行管理员", Role.INSTITUTION_ADMIN, "宁波海曙农商银行", None),
    ("bank2_cm", "海曙农商行客户经理", Role.CUSTOMER_MANAGER, "宁波海曙农商银行", "13800000003"),
    ("guarantor_cm", "担保公司业务经理", Role.CUSTOMER_MANAGER, "宁波市融资担保有限公司", None),
    ("tax_admin", "税务局管理员", Role.INSTITUTION_ADMIN, "宁波市税务局", None),
    ("tax_steward", "税务局数据专员", Role.DATA_STEWARD, "宁波市税务局", None),
    ("enterprise", "宁波示范制造有限公司", Role.ENTERPRISE, None, "13900000001"),
]


def create(session: Session) -> list[tuple[str, str, str]]:
    """Create what is missing; return (username, role, institution or USCC) for every demo user."""
    ids: dict[str, int] = {}
    for name, kind, code in INSTITUTIONS:
        inst = accounts.get_institution_by_name(session, name)
        if inst is None:
            inst = accounts.create_institution(
                session, actor=None, data=InstitutionCreate(name=name, kind=kind, code=code)
            )
        ids[name] = inst.id
    rows = []
    for username, display, role, inst_name, mobile in USERS:
        if not accounts.username_taken(session, username):
            accounts.create_user(
                session,
                actor=None,
                data=UserCreate(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    display_name=display,
                    institution_id=ids[inst_name] if inst_name else None,
                    entity_uscc=DEMO_ENTERPRISE_USCC if role is Role.ENTERPRISE else None,
                    mobile=mobile,
                ),
            )
        rows.append((username, role.value, inst_name or DEMO_ENTERPRISE_USCC))
    return rows


def login_rows(session: Session) -> list[tuple[str, str, str]]:
    """(username, role, institution or USCC) of every demo user as they are now (the
    enterprise is bound to a city entity once a city is loaded)."""
    rows = []
    for username, _display, role, inst_name, _mobile in USERS:
        uscc = accounts.entity_of(session, username) if role is Role.ENTERPRISE else None
        rows.append((username, role.value, inst_name or uscc or DEMO_ENTERPRISE_USCC))
    return rows


def bind_demo_sources(session: Session) -> None:
    """The demo tax department's stewards push and see the TAX source's batches."""
    from puhui.ingest import service as ingest

    inst = accounts.get_institution_by_name(session, "宁波市税务局")
    source = ingest.get_source(session, code="TAX")
    if inst is not None and source.institution_id is None:
        source.institution_id = inst.id
        session.flush()


def city_files(city: Path) -> list[tuple[str, Path]]:
    """(source, file) of a generated city, the registry first (observations need it)."""
    manifest = json.loads((city / "manifest.json").read_text(encoding="utf-8"))
    files = [(f["source"], city / f["path"]) for f in manifest["files"]]
    return sorted(files, key=lambda sf: (sf[1].name != "registry.csv", str(sf[1])))


def load_city(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    entities: int,
    seed: int,
    say: Callable[[str, int, int], None],
) -> tuple[int, int]:
    """Generate a city under DATA_DIR/city-<entities>-<seed> (once) and ingest every file
    (a file already loaded changes nothing). Returns (files, values accepted)."""
    from puhui.ingest import service as ingest
    from puhui.ingest.generator import generate_city

    city = settings.data_dir / f"city-{entities}-{seed}"
    if not (city / "manifest.json").exists():
        generate_city(
            city,
            entities=entities,
            seed=seed,
            progress=lambda phase, done, total: say(f"generating: {phase}", done, total),
        )
    files = city_files(city)
    accepted = 0
    for n, (source, path) in enumerate(files, start=1):
        say(f"ingesting {source}/{path.name}", n, len(files))
        outcome = ingest.ingest_path(
            factory, source_code=source, path=path, actor=None, via="cli", settings=settings
        )
        with session_scope(factory) as session:
            accepted += ingest.get_batch(session, batch_id=outcome.batch_id).rows_accepted
    say("compacting the lake by entity", len(files), len(files))
    ingest.compact_lake(every_year=True, settings=settings)
    say("building the snapshot", len(files), len(files))
    with session_scope(factory) as session:
        ingest.rebuild_snapshot(session, settings=settings)
    with session_scope(factory) as session:
        link_city(session)
    return len(files), accepted


DEMO_AUTHORIZED = 20  # entities that authorized the demo bank, the enterprise's among them


def link_city(session: Session) -> None:
    """Make the demo tell a story on the city's data: the demo enterprise is the city's
    first registered entity, and it and the next ones authorized 宁波甬城银行 for
    pre-loan queries and monitoring for a year (bank_cm can open their profiles)."""
    from datetime import UTC, datetime, timedelta

    from puhui.consent import service as consent
    from puhui.consent.schemas import ConsentGrant, Purpose

    first = entities.first_entities(session, DEMO_AUTHORIZED)
    bank = accounts.get_institution_by_name(session, "宁波甬城银行")
    if not first or bank is None:
        return
    accounts.bind_enterprise(session, username="enterprise", uscc=first[0])
    expires = datetime.now(UTC) + timedelta(days=365)
    for code in first:
        actor = Actor(user_id=None, username="demo", role=Role.ENTERPRISE, entity_uscc=code)
        if any(c.institution_id == bank.id for c in consent.consents_of(session, actor)):
            continue
        consent.grant(
            session,
            actor=actor,
            data=ConsentGrant(
                institution_id=bank.id,
                purposes=[Purpose.QUERY, Purpose.MONITORING],
                expires_at=expires,
                note="演示授权",
            ),
        )
