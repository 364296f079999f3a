"""Demo institutions and users: two banks, a guarantor, a data-source department, the
platform operator and the regulator, and one user of every role. Running it twice changes
nothing the second time."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from puhui.accounts import service as accounts
from puhui.accounts.schemas import InstitutionCreate, UserCreate
from puhui.config import Settings
from puhui.core.db import session_scope
from puhui.core.errors import PuhuiError
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
    _verify_demo_enterprise(session, first[0])
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
    seed_matching(session)
    seed_leads(session)
    seed_scoring(session)
    seed_instant(session)
    seed_monitoring(session, first)
    seed_statistics(session)


def seed_statistics(session: Session) -> None:
    """The LPR quotes in force (entered by the demo operator, audited like any other) and a
    first computation of the platform statistics from what the demo holds."""
    from datetime import date
    from decimal import Decimal

    from puhui.stats import service as stats
    from puhui.stats.schemas import LprCreate, Tenor

    operator = _actor(session, "operator")
    if operator is None:
        return
    if not stats.list_lpr(session):
        for tenor, day, pct in (
            (Tenor.ONE_YEAR, date(2024, 10, 21), "3.10"),
            (Tenor.FIVE_YEAR, date(2024, 10, 21), "3.60"),
        ):
            stats.create_lpr(
                session,
                data=LprCreate(tenor=tenor, effective_on=day, rate_pct=Decimal(pct)),
                actor=operator,
            )
    stats.refresh(session, since_month=stats.FIRST_MONTH)


def seed_instant(session: Session) -> None:
    """宁波甬城银行's pure-credit product decides online with the demo scorecard: an
    abnormal-operation listing declines, a falling tax bill refers, the score does the
    rest. Skipped once the product has a policy or the scorecard is missing."""
    from puhui.core.pagination import PageParams
    from puhui.instant import service as instant
    from puhui.instant.schemas import PolicyCreate
    from puhui.matching import service as matching
    from puhui.scoring import service as scoring

    admin = _actor(session, "bank_admin")
    if admin is None or admin.institution_id is None:
        return
    products = matching.list_products(
        session, params=PageParams(per_page=50), institution_id=admin.institution_id
    ).items
    product = next((p for p in products if "credit" in p.guarantee_types), None)
    approved = [v for m in scoring.list_models(session, actor=admin) for v in m.approved]
    if product is None or not approved or instant.active_policy(session, product.id):
        return
    instant.create_policy(
        session,
        actor=admin,
        data=PolicyCreate.model_validate(
            {
                "product_id": product.id,
                "rules": [
                    {
                        "reason": "R_ABNORMAL",
                        "label": "列入经营异常名录",
                        "action": "decline",
                        "when": {"indicator": "NEG_ABNORMAL_OPERATION", "op": "is_true"},
                    },
                    {
                        "reason": "R_TAX_DROP",
                        "label": "纳税额同比下降超过30%",
                        "action": "refer",
                        "when": {"indicator": "OPR_TAX_TOTAL_YOY", "op": "lt", "value": -0.3},
                    },
                ],
                "score_source": "model",
                "model_version_id": max(approved),
                "approve_min": 620,
                "refer_min": 580,
                "bands": [
                    {"min_score": 660, "limit": "1000000", "rate": "3.45"},
                    {"min_score": 620, "limit": "300000", "rate": "4.35"},
                ],
            }
        ),
    )


def seed_leads(session: Session) -> None:
    """A weekly saved filter of bank_cm (growing firms with a good health grade), run once
    so that the lead list has something to show. Skipped once bank_cm has one."""
    from puhui.acquisition import leads
    from puhui.acquisition.schemas import FilterDefinition, SavedFilterCreate

    actor = _actor(session, "bank_cm")
    if actor is None or leads.list_saved(session, actor=actor):
        return
    definition = FilterDefinition.model_validate(
        {
            "conditions": [
                {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0.1},
                {"indicator": "CRE_HEALTH_GRADE", "op": "in", "values": ["A", "B"]},
            ]
        }
    )
    saved = leads.create_saved(
        session,
        actor=actor,
        data=SavedFilterCreate(name="高成长优质小微", filter=definition, schedule="weekly"),
    )
    leads.run_saved(session, saved=saved, actor=actor)


def seed_scoring(session: Session) -> None:
    """An approved demo scorecard of 宁波甬城银行, written by bank_risk and approved by
    bank_admin (maker and checker). Skipped once the bank has a model."""
    from puhui.scoring import service as scoring
    from puhui.scoring.schemas import ModelCreate

    maker, checker = _actor(session, "bank_risk"), _actor(session, "bank_admin")
    if maker is None or checker is None or scoring.list_models(session, actor=maker):
        return
    model = scoring.create_model(
        session, actor=maker, data=ModelCreate(name="甬城小微评分卡", description="演示评分卡")
    )
    version = scoring.add_scorecard(
        session, actor=maker, model_id=model.id, definition=DEMO_SCORECARD
    )
    scoring.change_state(session, actor=maker, version_id=version.id, change="submit")
    scoring.change_state(session, actor=checker, version_id=version.id, change="approve")


DEMO_SCORECARD = {
    "base_points": 600,
    "features": [
        {
            "indicator": "OPR_TAX_TOTAL_12M",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 50000, "points": -25, "reason": "LOW_TAX"},
                {"lo": 50000, "hi": 500000, "points": 5},
                {"lo": 500000, "hi": None, "points": 30},
            ],
            "missing": {"points": -40, "reason": "NO_TAX"},
        },
        {
            "indicator": "NEG_RECORDS_TOTAL",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 1, "points": 20},
                {"lo": 1, "hi": None, "points": -45, "reason": "NEGATIVE"},
            ],
            "missing": {"points": 0},
        },
        {
            "indicator": "OPR_TAX_CREDIT_GRADE",
            "kind": "categorical",
            "bins": [
                {"values": ["A", "B"], "points": 25},
                {"values": ["M", "C", "D"], "points": -25, "reason": "TAX_GRADE"},
            ],
            "missing": {"points": -5},
        },
    ],
    "cutoffs": [{"label": "approve", "min_score": 620}, {"label": "review", "min_score": 580}],
    "reasons": {
        "LOW_TAX": "近12个月纳税额较低",
        "NO_TAX": "无纳税记录",
        "NEGATIVE": "存在负面记录",
        "TAX_GRADE": "纳税信用等级偏低",
    },
}


def seed_monitoring(session: Session, usccs: list[str]) -> None:
    """Give risk warning something to show: 宁波甬城银行's risk manager watches the
    authorized entities (assigned to them) under four common rules; the full evaluation
    the rules queue raises the alerts the city's data calls for. Skipped once the bank has
    rules."""
    from puhui.monitoring import service as monitoring
    from puhui.monitoring.schemas import RuleCreate, WatchCreate, WatchSource

    actor = _actor(session, "bank_risk")
    if actor is None or actor.user_id is None:
        return
    if monitoring.list_rules(session, actor=actor).rules:
        return
    for code in usccs:
        monitoring.add_watch(
            session,
            actor=actor,
            data=WatchCreate(uscc=code, assignees=[actor.user_id], note="演示监测"),
            source=WatchSource.PAGE,
        )
    for template in ("tax_arrears", "ss_arrears", "enforcement", "penalty"):
        monitoring.create_rule(session, actor=actor, data=RuleCreate(template=template))


def seed_matching(session: Session) -> None:
    """Give financing matching something to show: a product of each bank, a live
    financing event, a loan code of bank_cm, and two demands of the demo enterprise, one
    claimed by 宁波甬城银行 and contacted. Skipped once products exist."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from puhui.core.pagination import PageParams
    from puhui.matching import service as matching
    from puhui.matching.schemas import (
        ClaimStep,
        CodeTarget,
        DemandCreate,
        EventCreate,
        Guarantee,
        LoanCodeCreate,
        ProductCreate,
    )

    if matching.list_products(session, params=PageParams(per_page=1)).total:
        return
    staff: dict[str, Actor] = {}
    for username in ("bank_admin", "bank2_admin", "bank_cm", "operator", "enterprise"):
        actor = _actor(session, username)
        if actor is None:
            return
        staff[username] = actor
    products = []
    for admin, name, low, high, rate in (
        ("bank_admin", "甬城普惠信用贷", "50000", "3000000", ("3.45", "5.20")),
        ("bank2_admin", "海曙小微快贷", "100000", "5000000", ("3.60", "6.00")),
    ):
        products.append(
            matching.create_product(
                session,
                actor=staff[admin],
                data=ProductCreate(
                    name=name,
                    description="面向小微企业和个体工商户的纯信用经营贷款，线上申请，最快当天放款。",
                    amount_min=Decimal(low),
                    amount_max=Decimal(high),
                    term_min_months=6,
                    term_max_months=36,
                    rate_min=Decimal(rate[0]),
                    rate_max=Decimal(rate[1]),
                    guarantee_types=[Guarantee.CREDIT, Guarantee.GUARANTEE],
                    online_only=True,
                    documents=["营业执照", "法定代表人身份证", "近一年纳税证明"],
                ),
            )
        )
    now = datetime.now(UTC)
    banks = [p.institution_id for p in products]
    matching.create_event(
        session,
        actor=staff["operator"],
        data=EventCreate(
            name="小微企业首贷融资专场",
            description="面向首次贷款的小微企业，参加银行承诺一个工作日内联系。",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
            institution_ids=banks,
            product_ids=[p.id for p in products],
        ),
    )
    matching.create_loan_code(
        session,
        actor=staff["bank_cm"],
        data=LoanCodeCreate(target=CodeTarget.MANAGER, label="展会海报"),
    )
    enterprise = staff["enterprise"]
    for amount, purpose in (("800000", "采购原材料"), ("300000", "支付工资")):
        demand = matching.create_demand(
            session,
            actor=enterprise,
            data=DemandCreate(
                amount=Decimal(amount), term_months=12, purpose=purpose, contact_name="示范企业财务"
            ),
        )
    claim = matching.claim_demand(session, actor=staff["bank_cm"], demand_id=demand.id)
    matching.step(
        session,
        actor=staff["bank_cm"],
        demand_id=demand.id,
        claim_id=claim.id,
        data=ClaimStep(to="contacted"),
    )
    seed_quality(session)


def seed_quality(session: Session, *, entities_n: int = 48) -> None:
    """Six months of matching history so that service quality and inclusive coverage show
    real figures: demands of the city's entities (after the demo enterprise), claimed by
    the two demo banks, contacted after a few hours or never, some granted, rated and
    called back, the missed ones expired by the sweep. Deterministic (seeded)."""
    import random
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from puhui.core.errors import PuhuiError
    from puhui.matching import service as matching
    from puhui.matching.models import Callback
    from puhui.matching.schemas import ClaimStep, DemandCreate, Rating

    managers = [_actor(session, "bank_cm"), _actor(session, "bank2_cm")]
    codes = entities.first_entities(session, entities_n + 1)[1:]
    if None in managers or not codes:
        return
    rng = random.Random(9)  # noqa: S311 - demo data, not secrets
    now = datetime.now(UTC)

    def one(i: int, code: str) -> None:
        raised = now - timedelta(days=15 + (i % 6) * 30, hours=rng.randint(0, 48))
        ent = Actor(user_id=None, username="demo", role=Role.ENTERPRISE, entity_uscc=code)
        demand = matching.create_demand(
            session,
            actor=ent,
            data=DemandCreate(
                amount=Decimal(rng.choice(("200000", "500000", "1000000"))),
                term_months=12,
                purpose="流动资金周转",
                contact_name="财务负责人",
                contact_mobile=f"1370000{i:04d}",
            ),
            now=raised,
        )
        # the first bank answers faster and grants more than the second
        order = [0, 1] if i % 3 else [1, 0]
        for n, k in enumerate(order[: 1 + (i % 2)]):
            cm = managers[k]
            assert cm is not None
            at = raised + timedelta(minutes=10 + 20 * n)
            claim = matching.claim_demand(session, actor=cm, demand_id=demand.id, now=at)
            if rng.random() < (0.15 if k == 0 else 0.35):
                continue  # never contacted: the sweep expires it
            hours = rng.uniform(0.5, 6) if k == 0 else rng.uniform(2, 30)
            steps = ["contacted"]
            if (k == 0 and rng.random() < 0.55) or (k == 1 and rng.random() < 0.3):
                steps += ["under_review", "approved", "granted"]
            for j, to in enumerate(steps):
                if demand.status != "open":
                    break
                body: dict[str, object] = {"to": to}
                if to in ("approved", "granted"):
                    body.update(amount=Decimal("300000"), rate=Decimal("4.2"))
                matching.step(
                    session,
                    actor=cm,
                    demand_id=demand.id,
                    claim_id=claim.id,
                    data=ClaimStep.model_validate(body),
                    now=at + timedelta(hours=hours + 24 * j),
                )
            if rng.random() < 0.5:
                matching.rate(
                    session,
                    actor=ent,
                    demand_id=demand.id,
                    claim_id=claim.id,
                    data=Rating(rating=rng.choice((5, 5, 4, 4, 3) if k == 0 else (4, 3, 3, 2))),
                )
        if i % 4 == 0:
            happy = rng.random() < 0.7
            session.add(
                Callback(
                    demand_id=demand.id,
                    reason="sampled",
                    status="done",
                    created_at=raised + timedelta(days=8),
                    called_at=raised + timedelta(days=8),
                    reached=True,
                    contacted_by_bank=happy,
                    satisfaction=rng.choice((4, 5)) if happy else rng.choice((1, 2)),
                    complaint="" if happy else "银行迟迟没有联系",
                )
            )

    for i, code in enumerate(codes):
        try:
            with session.begin_nested():
                one(i, code)
        except PuhuiError:  # an entity that may not raise a demand (closed, …): skip it
            continue
    session.flush()
    matching.sweep(session, now=now)
    from puhui.quality import service as quality

    quality.refresh(session)  # the pages read the rollups; don't wait for the hourly job


def _verify_demo_enterprise(session: Session, uscc: str) -> None:
    """The demo enterprise's legal representative, verified in person by the demo
    operator (decision 0019), so its authorizations and loan applications work."""
    from puhui.verification import service as verification

    user, operator = _actor(session, "enterprise"), _actor(session, "operator")
    if user is None or operator is None or user.user_id is None:
        return
    if verification.is_verified(session, user_id=user.user_id, uscc=uscc):
        return
    # an entity without a legal representative on record: the user verifies on the page
    with contextlib.suppress(PuhuiError):
        verification.attest_in_person(
            session, actor=operator, user_id=user.user_id, uscc=uscc, note="演示：柜面核验"
        )


def _actor(session: Session, username: str) -> Actor | None:
    """The demo user as the services see a logged-in caller."""
    return accounts.actor_by_username(session, username)
