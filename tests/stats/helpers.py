"""Known platform activity for the statistics tests: every row written with the moment it
happened, in March–May 2020 (Shanghai), so each figure can be worked out by hand.

=========  =======================================================================
records    TAXT 1000 (committed 2020-03-10), TAXT 500 (2020-03-31 17:00 UTC, i.e.
           1 April in Shanghai), SOCT 300 (2020-04-20); a rejected batch of 99;
           by category: TAXT's are 600 operating + 400 financial and 500 operating,
           SOCT's 300 operating
queries    bank1 2×query in March, bank2 1×monitoring in April
demands    d1 e1 registered 03-01 → granted by bank1 03-11, 1 000 000 yuan at 4.50 %
           d2 e2 simple     03-05 → granted by bank2 04-08,   500 000 yuan at 4.00 %
           d3 e1 wechat     04-01 → granted by bank1 04-06,   300 000 yuan at 3.80 %
           d4 e3 registered 04-02 → declined 04-20;  d5 e4 simple 05-03 open
alerts     March: e1, e1 (texted), e2; April: e1
downloads  May: 1200 rows and 800 rows
models     one scoring model created in March
instant    one product, policy v1 in April and v2 in May; May: approve, decline
LPR 1y     4.05 % from 2020-02-20, 3.85 % from 2020-04-20
=========  =======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from puhui.audit import service as audit
from puhui.catalog.models import Indicator
from puhui.consent.models import QueryRecord
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.entities.models import Entity
from puhui.ingest.models import Batch, DataSource
from puhui.instant.models import DecisionPolicy, InstantDecision
from puhui.matching.models import Claim, Demand, Product
from puhui.monitoring.models import Alert, Download, Rule
from puhui.scoring.models import ScoringModel
from puhui.stats import service
from puhui.stats.schemas import LprCreate, Tenor
from tests import factories

SH = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)  # type: ignore[misc]


@dataclass
class World:
    bank1: int
    bank2: int
    entities: list[int]
    operator: Actor


def _entity(session: Session) -> int:
    e = Entity(uscc=factories.uscc(), name="测试企业", kind="enterprise", district="330203")
    session.add(e)
    session.flush()
    return e.id


def _batch(
    session: Session,
    source: DataSource,
    at: datetime,
    rows: int,
    status: str,
    by_category: dict[str, int] | None = None,
) -> None:
    session.add(
        Batch(
            source_id=source.id,
            filename="f.csv",
            content_sha256=f"{source.code}{at.isoformat()}{status}"[:64].ljust(64, "0"),
            size_bytes=1,
            via="cli",
            status=status,
            rows_total=rows,
            rows_accepted=rows,
            accepted_by_category=by_category or {},
            committed_at=at if status == "committed" else None,
            created_at=at,
        )
    )


def _demand(
    session: Session, entity_id: int, channel: str, at: datetime, status: str = "open"
) -> Demand:
    d = Demand(
        entity_id=entity_id,
        channel=channel,
        amount_fen=100_000_00,
        term_months=12,
        purpose="经营周转",
        guarantee_type="credit",
        contact_name="张三",
        contact_mobile="13800138000",
        entity_kind="enterprise",
        district="330203",
        status=status,
        expires_at=at + timedelta(days=30),
        created_at=at,
    )
    session.add(d)
    session.flush()
    return d


def _grant(session: Session, d: Demand, bank: int, at: datetime, yuan: int, rate_bp: int) -> None:
    d.status, d.closed_at = "granted", at
    session.add(
        Claim(
            demand_id=d.id,
            institution_id=bank,
            status="granted",
            contact_due_at=at,
            outcome_due_at=at,
            outcome_at=at - timedelta(days=1),
            ended_at=at,
            amount_fen=yuan * 100,
            rate_bp=rate_bp,
            chosen=True,
            created_at=d.created_at,
        )
    )


def seed(session: Session) -> World:
    operator = factories.user(session, Role.OPERATOR)
    actor = Actor(
        user_id=operator.id,
        username=operator.username,
        role=Role.OPERATOR,
        institution_id=operator.institution_id,
        institution_kind=InstitutionKind.PLATFORM,
    )
    bank1 = factories.institution(session, InstitutionKind.BANK, name="统计一行")
    bank2 = factories.institution(session, InstitutionKind.BANK, name="统计二行")
    insurer = factories.institution(session, InstitutionKind.INSURER)
    guarantor = factories.institution(session, InstitutionKind.GUARANTOR)
    bank1.created_at = bank2.created_at = insurer.created_at = sh(2020, 3, 5)
    guarantor.created_at = sh(2020, 5, 1)
    ents = [_entity(session) for _ in range(4)]

    tax = DataSource(
        code="TAXT", name="税务", department="税务局", level="municipal", schedule="monthly"
    )
    soc = DataSource(
        code="SOCT", name="社保", department="人社局", level="municipal", schedule="monthly"
    )
    session.add_all([tax, soc])
    session.flush()
    _batch(session, tax, sh(2020, 3, 10), 1000, "committed", {"operating": 600, "financial": 400})
    late = datetime(2020, 3, 31, 17, 0, tzinfo=UTC)
    _batch(session, tax, late, 500, "committed", {"operating": 500})
    _batch(session, soc, sh(2020, 4, 20), 300, "committed", {"operating": 300})
    _batch(session, soc, sh(2020, 4, 21), 99, "rejected", {"operating": 99})

    event = audit.record(session, actor=actor, action="test.seed")
    for inst, purpose, at in (
        (bank1.id, "query", sh(2020, 3, 2)),
        (bank1.id, "query", sh(2020, 3, 3)),
        (bank2.id, "monitoring", sh(2020, 4, 2)),
    ):
        session.add(
            QueryRecord(
                entity_id=ents[0],
                institution_id=inst,
                username="u",
                role="risk_manager",
                kind="profile",
                purpose=purpose,
                categories=[],
                audit_event_id=event.id,
                created_at=at,
            )
        )

    d1 = _demand(session, ents[0], "registered", sh(2020, 3, 1, 10))
    d2 = _demand(session, ents[1], "simple", sh(2020, 3, 5, 9))
    d3 = _demand(session, ents[0], "wechat", sh(2020, 4, 1, 8))
    d4 = _demand(session, ents[2], "registered", sh(2020, 4, 2, 8))
    _demand(session, ents[3], "simple", sh(2020, 5, 3, 8))
    _grant(session, d1, bank1.id, sh(2020, 3, 11, 16), 1_000_000, 450)
    _grant(session, d2, bank2.id, sh(2020, 4, 8, 16), 500_000, 400)
    _grant(session, d3, bank1.id, sh(2020, 4, 6, 16), 300_000, 380)
    d4.status, d4.closed_at = "declined", sh(2020, 4, 20)

    indicator = session.scalar(select(Indicator.id).where(Indicator.code == "OPR_TAX_ARREARS"))
    assert indicator is not None
    rule = Rule(
        institution_id=bank1.id,
        name="r",
        indicator_id=indicator,
        kind="threshold",
        op="gt",
        threshold=0,
        severity="high",
        enabled=True,
        revision=1,
    )
    session.add(rule)
    session.flush()
    for entity, at, sms, period in (
        (ents[0], sh(2020, 3, 3), None, 202001),
        (ents[0], sh(2020, 3, 4), sh(2020, 3, 4, 9), 202002),
        (ents[1], sh(2020, 3, 5), None, 202002),
        (ents[0], sh(2020, 4, 5), None, 202003),
    ):
        session.add(
            Alert(
                institution_id=bank1.id,
                entity_id=entity,
                rule_id=rule.id,
                indicator_id=indicator,
                period=period,
                kind="threshold",
                severity="high",
                threshold=0,
                op="gt",
                rule_set_version=1,
                status="new",
                note="",
                created_at=at,
                sms_at=sms,
            )
        )
    for rows, n in ((1200, 1), (800, 2)):
        session.add(
            Download(
                public_id=f"stats-test-{n}",
                institution_id=bank1.id,
                format="csv",
                indicators=[],
                periods=[],
                entity_ids=[],
                entity_count=1,
                row_count=rows,
                skipped=[],
                package_sm3="0" * 64,
                size_bytes=1,
                key_fingerprint="0" * 64,
                expires_at=sh(2020, 6, 1),
                created_at=sh(2020, 5, 10 + n),
            )
        )
    session.add(
        ScoringModel(institution_id=bank1.id, name="m", description="", created_at=sh(2020, 3, 9))
    )
    product = Product(
        institution_id=bank1.id,
        name="秒贷",
        amount_min_fen=100,
        amount_max_fen=10_000_000,
        term_min_months=1,
        term_max_months=12,
        rate_min_bp=300,
        rate_max_bp=600,
        guarantee_types=["credit"],
        entity_kinds=[],
        industries=[],
        districts=[],
        online_only=True,
        documents=[],
    )
    session.add(product)
    session.flush()
    policies = []
    for version, at in ((1, sh(2020, 4, 10)), (2, sh(2020, 5, 10))):
        p = DecisionPolicy(
            institution_id=bank1.id,
            product_id=product.id,
            version=version,
            rules=[],
            score_source="health",
            approve_min=60,
            refer_min=40,
            bands=[],
            is_active=version == 2,
            created_at=at,
        )
        session.add(p)
        session.flush()
        policies.append(p)
    for outcome in ("approve", "decline"):
        session.add(
            InstantDecision(
                policy_id=policies[1].id,
                product_id=product.id,
                institution_id=bank1.id,
                entity_id=ents[1],
                requested_fen=100,
                term_months=12,
                outcome=outcome,
                reasons=[],
                facts={},
                rule_hits=[],
                created_at=sh(2020, 5, 12),
            )
        )
    session.flush()
    for day, pct in ((date(2020, 2, 20), "4.05"), (date(2020, 4, 20), "3.85")):
        service.create_lpr(
            session,
            data=LprCreate(tenor=Tenor.ONE_YEAR, effective_on=day, rate_pct=Decimal(pct)),
            actor=actor,
        )
    service.create_lpr(
        session,
        data=LprCreate(
            tenor=Tenor.FIVE_YEAR, effective_on=date(2020, 4, 20), rate_pct=Decimal("4.65")
        ),
        actor=actor,
    )
    session.flush()
    return World(bank1=bank1.id, bank2=bank2.id, entities=ents, operator=actor)
