"""Platform statistics: refresh the rollups from the platform's own data, read them back as
figures over a range of months and as monthly series, and keep the LPR operators enter.

Invariants:
- No figure is stored by hand: ``stats_monthly`` and ``stats_grants`` are recomputed by
  :func:`refresh` from the domains' tables (the job runs hourly; operators can queue it),
  and a refresh of months ≥ M deletes and rewrites exactly those months, so running it
  twice changes nothing. Only the LPR is typed in, by operators, validated and audited.
- Pages and the API read only this package's small tables (indexed by month), never the
  domains' large tables, so their cost does not grow with the platform's history.
- A month is the calendar month in Asia/Shanghai (``YYYYMM``).

Definitions (docs/statistics.md has each figure's reproducing SQL):
- *Records collected*: values accepted by committed ingest batches (``rows_accepted``).
- *Enterprises financed*: distinct entities with a granted loan (claim ``granted``) in the
  months; *first-time borrowers*: those whose loan is the first one granted to them through
  the platform (no earlier granted claim of the entity).
- *Average granted rate*: the mean rate of granted loans; its *spread to the LPR*: that rate
  minus the 1-year LPR in force on the last day of the loan's month.
- *Days from demand to grant*: Shanghai date of the grant minus the date of the demand.
- *Coverage*: entities with bank loans outstanding (``FIN_BANK_LOANS`` > 0 in the current
  snapshot) over all registered entities, recorded as of each refresh's month.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from puhui.acquisition import service as acquisition
from puhui.audit import service as audit
from puhui.core.i18n import N_, gettext
from puhui.core.orm import utcnow
from puhui.core.policy import Actor
from puhui.stats import repository
from puhui.stats.errors import DuplicateLpr, InvalidStatsInput
from puhui.stats.models import GrantFact, LprRate, Refresh
from puhui.stats.schemas import (
    ChannelOutcome,
    FigureRead,
    LprCreate,
    SeriesRead,
    StatsRead,
    Tenor,
    Unit,
)

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
REFRESH_JOB = "stats.refresh"
LPR_CREATED = "stats.lpr_created"
FIRST_MONTH = 201801  # the platform opened in 2018; nothing earlier is counted
MAX_MONTHS = 120
LPR_REFORM = date(2019, 8, 20)  # the first LPR quoted under the reformed mechanism
COVERAGE_INDICATOR = "FIN_BANK_LOANS"

# metrics recomputed for months ≥ since on each refresh
ROLLING = (
    "records",
    "records_cat",
    "queries_inst",
    "queries_purpose",
    "demands",
    "closed",
    "alerts",
    "alert_prev",
    "sms",
    "downloads",
    "download_rows",
    "decisions",
    "loans",
    "amount",
    "first_time",
    "rate_sum",
    "rate_n",
    "days",
    "fin_prev",
)
# small tables: recomputed whole on each refresh
WHOLE = ("institutions", "models", "products")
# values as of the refresh (recorded under the refresh's month)
AS_OF = ("entities", "with_credit")
CUMULATIVE = ("institutions", "models", "products")


# --- months --------------------------------------------------------------------------------


def month_key(day: date) -> int:
    return day.year * 100 + day.month


def month_label(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


def next_month(month: int) -> int:
    y, m = divmod(month, 100)
    return (y + 1) * 100 + 1 if m == 12 else y * 100 + m + 1


def prev_month(month: int) -> int:
    y, m = divmod(month, 100)
    return (y - 1) * 100 + 12 if m == 1 else y * 100 + m - 1


def months_between(first: int, last: int) -> list[int]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = next_month(m)
    return out


def month_start(month: int) -> datetime:
    """The UTC instant a Shanghai month begins."""
    local = datetime(month // 100, month % 100, 1, tzinfo=SHANGHAI)
    return local.astimezone(UTC)


def month_end_day(month: int) -> date:
    return month_start(next_month(month)).astimezone(SHANGHAI).date() - timedelta(days=1)


def local_month(moment: datetime) -> int:
    return month_key(moment.astimezone(SHANGHAI).date())


def parse_month(value: str, field: str) -> int:
    """``YYYY-MM`` → ``YYYYMM``; anything else is a 422 naming ``field``."""
    text = value.strip()
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError(text)
        year, month = int(text[:4]), int(text[5:])
        if not 1 <= month <= 12 or year < 1900:
            raise ValueError(text)
    except ValueError:
        raise InvalidStatsInput.at(field, N_("Enter a month as YYYY-MM.")) from None
    return year * 100 + month


def month_range(
    first: str | None, last: str | None, *, now: datetime | None = None
) -> tuple[int, int]:
    """The months asked for; by default the twelve ending with the current month."""
    current = local_month(now or utcnow())
    stop = parse_month(last, "to") if last else current
    if stop < FIRST_MONTH:
        raise InvalidStatsInput.at(
            "to", N_("The platform has no data before {month}."), month=month_label(FIRST_MONTH)
        )
    start = parse_month(first, "from") if first else max(_shift(stop, -11), FIRST_MONTH)
    if start > stop:
        raise InvalidStatsInput.at("from", N_("The first month must not be after the last."))
    if len(months_between(start, stop)) > MAX_MONTHS:
        raise InvalidStatsInput.at("from", N_("Choose at most {n} months."), n=MAX_MONTHS)
    if start < FIRST_MONTH:
        raise InvalidStatsInput.at(
            "from", N_("The platform has no data before {month}."), month=month_label(FIRST_MONTH)
        )
    return start, stop


def _shift(month: int, n: int) -> int:
    y, m = divmod(month, 100)
    idx = y * 12 + (m - 1) + n
    return (idx // 12) * 100 + idx % 12 + 1


# --- refresh -------------------------------------------------------------------------------


def refresh(
    session: Session, *, since_month: int | None = None, now: datetime | None = None
) -> Refresh:
    """Recompute the rollups for months ≥ ``since_month`` (default: the previous month, or
    everything on the first run). Idempotent; runs in the caller's transaction."""
    started = now or utcnow()
    current = local_month(started)
    if since_month is None:
        since_month = (
            FIRST_MONTH if repository.last_refresh(session) is None else prev_month(current)
        )
    since = month_start(since_month)
    rows = 0
    repository.clear_months(session, ROLLING, since_month)
    rolling: dict[str, list[repository.Row]] = {
        "records": repository.records_by_source(session, since),
        "records_cat": repository.records_by_category(session, since),
        "queries_inst": repository.queries_by_institution(session, since),
        "queries_purpose": repository.queries_by_purpose(session, since),
        "demands": repository.demands_by_channel(session, since),
        "closed": repository.closed_by_channel_outcome(session, since),
        "sms": repository.alert_sms(session, since),
        "decisions": repository.instant_decisions(session, since),
    }
    rolling["alerts"] = repository.alerts(session, since)
    rolling["alert_prev"] = _previous_months(
        repository.alerted_months(session, since), repository.last_alerted_before(session, since)
    )
    rolling["downloads"], rolling["download_rows"] = repository.downloads(session, since)
    for metric, found in rolling.items():
        rows += repository.put_figures(session, metric, found, since_month)

    repository.clear_months(session, WHOLE, 0)
    whole = {
        "institutions": repository.institutions_by_kind(session),
        "models": repository.models_created(session),
        "products": repository.instant_products(session),
    }
    for metric, found in whole.items():
        rows += repository.put_figures(session, metric, found, 0)

    repository.clear_months(session, AS_OF, current)
    entities = repository.count_entities(session)
    rows += repository.put_figures(session, "entities", [(current, "", entities)], current)
    with_credit = _with_credit()
    if with_credit is not None:
        rows += repository.put_figures(
            session, "with_credit", [(current, "", with_credit)], current
        )

    for metric, found in _refresh_grants(session, since_month, since).items():
        rows += repository.put_figures(session, metric, found, since_month)
    run = Refresh(started_at=started, finished_at=utcnow(), since_month=since_month, rows=rows)
    repository.add_refresh(session, run)
    session.flush()
    return run


def _with_credit() -> int | None:
    """Entities with bank loans outstanding in the current snapshot (None: no snapshot)."""
    view = acquisition.snapshot_view()
    if view is None:
        return None
    try:
        column = view.column(COVERAGE_INDICATOR)
    except (KeyError, LookupError, ValueError):
        log.warning("stats: the snapshot has no %s column", COVERAGE_INDICATOR)
        return None
    return int((column.fill_null(0) > 0).sum())


def _previous_months(
    pairs: Iterable[tuple[int, int]], last: dict[int, int]
) -> list[repository.Row]:
    """For each (entity, month) in month order: (month, the entity's previous month or 0, 1).
    Entities in months [a, b] are then the rows of those months whose previous month is
    before a — each entity counted once, at its first month of the range."""
    out: list[repository.Row] = []
    for entity, month in pairs:
        out.append((month, str(last.get(entity, 0)), 1))
        last[entity] = month
    return out


def _refresh_grants(
    session: Session, since_month: int, since: datetime
) -> dict[str, list[repository.Row]]:
    """Copy the loans granted from ``since`` into ``stats_grants`` and roll them up."""
    repository.clear_grants(session, since_month)
    session.flush()
    loans = repository.grants_since(session, since)
    last = repository.last_financed_before(session, (r.entity_id for r in loans))
    facts = []
    out: dict[str, list[repository.Row]] = defaultdict(list)
    for r in loans:
        granted_day = r.ended_at.astimezone(SHANGHAI).date()
        asked_day = r.created_at.astimezone(SHANGHAI).date()
        month, days = month_key(granted_day), (granted_day - asked_day).days
        amount, first_time = int(r.amount_fen or 0), r.entity_id not in last
        facts.append(
            GrantFact(
                claim_id=r.id,
                demand_id=r.demand_id,
                entity_id=r.entity_id,
                institution_id=r.institution_id,
                channel=r.channel,
                month=month,
                granted_at=r.ended_at,
                days=days,
                amount_fen=amount,
                rate_bp=r.rate_bp,
                first_time=first_time,
            )
        )
        out["loans"].append((month, r.channel, 1))
        out["amount"].append((month, r.channel, amount))
        out["days"].append((month, str(days), 1))
        out["fin_prev"].append((month, str(last.get(r.entity_id, 0)), 1))
        if first_time:
            out["first_time"].append((month, "", 1))
        if r.rate_bp is not None:
            out["rate_sum"].append((month, "", int(r.rate_bp)))
            out["rate_n"].append((month, "", 1))
        last[r.entity_id] = month
    repository.put_grants(session, facts)
    return out


def _first_in(
    split: dict[str, list[float | None]], months: list[int], *, per_month: bool
) -> list[float | None]:
    """Distinct entities from (month, previous month) counts: per month (previous month
    before that month), or over the whole range (previous month before its first)."""
    if per_month:
        return [
            float(sum(int(v[i] or 0) for d, v in split.items() if int(d) < m))
            for i, m in enumerate(months)
        ]
    start = months[0]
    return [float(sum(int(x or 0) for d, v in split.items() if int(d) < start for x in v))]


def last_refresh(session: Session) -> Refresh | None:
    return repository.last_refresh(session)


# --- LPR -----------------------------------------------------------------------------------


def list_lpr(session: Session) -> list[LprRate]:
    return repository.lpr_all(session)


def create_lpr(
    session: Session, *, data: LprCreate, actor: Actor, today: date | None = None
) -> LprRate:
    """Enter an LPR quote. Percent with at most two decimals, above 0 and at most 20;
    effective from the 2019 reform to at most a month ahead; one per tenor and day."""
    today = today or utcnow().astimezone(SHANGHAI).date()
    try:
        scaled = data.rate_pct * 100
        if scaled != scaled.to_integral_value() or not Decimal(0) < data.rate_pct <= 20:
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidStatsInput.at(
            "rate_pct", N_("Enter the rate in percent, above 0 and at most 20, two decimals.")
        ) from None
    if data.effective_on < LPR_REFORM or data.effective_on > today + timedelta(days=31):
        raise InvalidStatsInput.at(
            "effective_on",
            N_("The day must be from {first} to a month from today."),
            first=LPR_REFORM.isoformat(),
        )
    if repository.lpr_exists(session, tenor=data.tenor.value, effective_on=data.effective_on):
        raise DuplicateLpr(
            tenor=data.tenor.value,
            day=data.effective_on.isoformat(),
            details=[{"field": "effective_on", "message": DuplicateLpr.default_message}],
        )
    rate = LprRate(
        tenor=data.tenor.value,
        effective_on=data.effective_on,
        rate_bp=int(scaled),
        created_by=actor.user_id,
    )
    repository.add_lpr(session, rate)
    audit.record(
        session,
        actor=actor,
        action=LPR_CREATED,
        target_type="lpr",
        target_id=rate.id,
        details={
            "tenor": rate.tenor,
            "effective_on": rate.effective_on.isoformat(),
            "rate_bp": rate.rate_bp,
        },
    )
    return rate


def lpr_in_force(rates: Sequence[LprRate], tenor: str, day: date) -> int | None:
    best: LprRate | None = None
    for r in rates:
        if (
            r.tenor == tenor
            and r.effective_on <= day
            and (best is None or r.effective_on > best.effective_on)
        ):
            best = r
    return best.rate_bp if best else None


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Def:
    key: str
    name: str
    unit: Unit


SERIES: tuple[_Def, ...] = (
    _Def("records", N_("Records collected"), Unit.COUNT),
    _Def("records_by_category", N_("Records collected by category"), Unit.COUNT),
    _Def("entities", N_("Entities covered"), Unit.COUNT),
    _Def("coverage", N_("Share of entities with credit"), Unit.PERCENT),
    _Def("institutions", N_("Institutions connected"), Unit.COUNT),
    _Def("queries", N_("Queries by purpose"), Unit.COUNT),
    _Def("queries_by_institution", N_("Queries by institution"), Unit.COUNT),
    _Def("demands", N_("Financing demands by channel"), Unit.COUNT),
    _Def("outcomes", N_("Demands closed by outcome"), Unit.COUNT),
    _Def("loans", N_("Loans granted"), Unit.COUNT),
    _Def("amount", N_("Amount granted"), Unit.YUAN),
    _Def("enterprises", N_("Enterprises financed"), Unit.COUNT),
    _Def("first_time", N_("First-time borrowers"), Unit.COUNT),
    _Def("avg_amount", N_("Average amount per enterprise"), Unit.YUAN),
    _Def("avg_rate", N_("Average granted interest rate"), Unit.PERCENT),
    _Def("lpr_spread", N_("Spread of the granted rate to the 1-year LPR"), Unit.BASIS_POINTS),
    _Def("median_days", N_("Median days from demand to grant"), Unit.DAYS),
    _Def("models", N_("Scoring models"), Unit.COUNT),
    _Def("products", N_("Instant-loan products"), Unit.COUNT),
    _Def("decisions", N_("Instant-loan decisions"), Unit.COUNT),
    _Def("alerts", N_("Alerts pushed"), Unit.COUNT),
    _Def("alert_entities", N_("Entities alerted"), Unit.COUNT),
    _Def("sms", N_("Alert text messages"), Unit.COUNT),
    _Def("downloads", N_("Batch downloads"), Unit.COUNT),
    _Def("download_rows", N_("Rows downloaded"), Unit.COUNT),
)
SERIES_KEYS = tuple(d.key for d in SERIES)


def _median(hist: dict[int, int]) -> float | None:
    n = sum(hist.values())
    if n == 0:
        return None
    lo_pos, hi_pos = (n - 1) // 2, n // 2
    lo = hi = None
    seen = 0
    for days in sorted(hist):
        count = hist[days]
        if lo is None and lo_pos < seen + count:
            lo = days
        if hi_pos < seen + count:
            hi = days
            break
        seen += count
    assert lo is not None and hi is not None
    return (lo + hi) / 2


def _ratio(num: float, den: float, scale: float = 1.0, digits: int = 2) -> float | None:
    return round(num / den * scale, digits) if den else None


def overview(  # noqa: PLR0915 - one figure after another, kept together on purpose
    session: Session, *, first: int, last: int, locale: str
) -> StatsRead:
    """Every figure over months [first, last] and every monthly series."""
    months = months_between(first, last)
    index = {m: i for i, m in enumerate(months)}
    n = len(months)

    def zeros() -> list[float | None]:
        return [0] * n

    raw: dict[str, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(zeros))
    present: set[tuple[str, int]] = set()
    for metric, month, dim, value in repository.figures(session, first=first, last=last):
        raw[metric][dim][index[month]] = value
        present.add((metric, month))

    def total(metric: str) -> list[float | None]:
        out = zeros()
        for values in raw[metric].values():
            for i, v in enumerate(values):
                out[i] = (out[i] or 0) + (v or 0)
        return out

    # cumulative series start from what came before the range
    before: dict[str, dict[str, int]] = defaultdict(dict)
    for metric, dim, value in repository.figures_before(session, CUMULATIVE, first):
        before[metric][dim] = value

    def cumulative(metric: str) -> tuple[list[float | None], dict[str, list[float | None]]]:
        dims = set(raw[metric]) | set(before[metric])
        split: dict[str, list[float | None]] = {}
        for dim in sorted(dims):
            running = before[metric].get(dim, 0)
            values: list[float | None] = []
            monthly = raw[metric].get(dim, zeros())
            for v in monthly:
                running += int(v or 0)
                values.append(running)
            split[dim] = values
        totals = [sum(int(split[d][i] or 0) for d in split) for i in range(n)]
        return list(totals), split

    # as-of series: a value only in months a refresh recorded one
    entities_m: list[float | None] = [None] * n
    coverage_m: list[float | None] = [None] * n
    for i, m in enumerate(months):
        if ("entities", m) in present:
            entities_m[i] = raw["entities"][""][i]
            if ("with_credit", m) in present:
                coverage_m[i] = _ratio(
                    float(raw["with_credit"][""][i] or 0), float(entities_m[i] or 0), 100
                )
    entities_now = repository.latest_as_of(session, "entities", last)
    credit_now = repository.latest_as_of(session, "with_credit", last)

    # loans: additive monthly counters, and the (month, previous month) counts that give
    # distinct enterprises over any range: an entity is counted at its first loan of the
    # range, the one whose previous loan came before the range (or never)
    rates = repository.lpr_all(session)
    loans_m, first_m = total("loans"), total("first_time")
    amount_m: list[float | None] = [(v or 0) / 100 for v in total("amount")]
    rate_sum_m, rate_n_m = total("rate_sum"), total("rate_n")
    ent_m = _first_in(raw["fin_prev"], months, per_month=True)
    alerted_m = _first_in(raw["alert_prev"], months, per_month=True)
    avg_amount_m = [
        _ratio(float(a or 0), float(e or 0)) for a, e in zip(amount_m, ent_m, strict=True)
    ]
    avg_rate_m = [
        _ratio(float(r or 0), float(k or 0), 0.01, 4)
        for r, k in zip(rate_sum_m, rate_n_m, strict=True)
    ]
    spread_m: list[float | None] = [None] * n
    spread_sum, spread_n = 0.0, 0
    for i, m in enumerate(months):
        rsum, rn = int(rate_sum_m[i] or 0), int(rate_n_m[i] or 0)
        lpr = lpr_in_force(rates, Tenor.ONE_YEAR.value, month_end_day(m))
        if lpr is not None and rn:
            spread_m[i] = round(rsum / rn - lpr, 2)
            spread_sum += rsum - lpr * rn
            spread_n += rn
    hist_m: list[dict[int, int]] = [{} for _ in months]
    hist_all: dict[int, int] = defaultdict(int)
    for dim, values in raw["days"].items():
        for i, v in enumerate(values):
            if v:
                hist_m[i][int(dim)] = int(v)
                hist_all[int(dim)] += int(v)
    median_m: list[float | None] = [_median(h) for h in hist_m]
    amount_t = sum(int(v or 0) for v in total("amount")) / 100
    ent_t = _first_in(raw["fin_prev"], months, per_month=False)[0] or 0

    inst_total, inst_split = cumulative("institutions")
    models_total, _ = cumulative("models")
    products_total, _ = cumulative("products")
    names = repository.institution_names(
        session, (int(d) for d in raw["queries_inst"] if d not in ("", "None"))
    )
    by_inst = {
        (names.get(int(d), d) if d not in ("", "None") else gettext(locale, N_("platform"))): v
        for d, v in raw["queries_inst"].items()
    }
    outcome_split: dict[str, list[float | None]] = defaultdict(zeros)
    table: dict[tuple[str, str], int] = defaultdict(int)
    for dim, values in raw["closed"].items():
        channel, _, status = dim.partition(":")
        split = outcome_split[gettext(locale, status)]
        for i, v in enumerate(values):
            split[i] = (split[i] or 0) + (v or 0)
            table[(channel, status)] += int(v or 0)

    def tr_dims(split: dict[str, list[float | None]]) -> dict[str, list[float | None]]:
        return {gettext(locale, k): v for k, v in split.items()}

    data: dict[str, tuple[list[float | None], dict[str, list[float | None]]]] = {
        "records": (total("records"), dict(raw["records"])),
        "records_by_category": (total("records_cat"), tr_dims(raw["records_cat"])),
        "entities": (entities_m, {}),
        "coverage": (coverage_m, {}),
        "institutions": (inst_total, tr_dims(inst_split)),
        "queries": (total("queries_purpose"), tr_dims(raw["queries_purpose"])),
        "queries_by_institution": (total("queries_inst"), by_inst),
        "demands": (total("demands"), tr_dims(raw["demands"])),
        "outcomes": (total("closed"), dict(outcome_split)),
        "loans": (loans_m, {}),
        "amount": (amount_m, {}),
        "enterprises": (ent_m, {}),
        "first_time": (first_m, {}),
        "avg_amount": (avg_amount_m, {}),
        "avg_rate": (avg_rate_m, {}),
        "lpr_spread": (spread_m, {}),
        "median_days": (median_m, {}),
        "models": (models_total, {}),
        "products": (products_total, {}),
        "decisions": (total("decisions"), tr_dims(raw["decisions"])),
        "alerts": (total("alerts"), {}),
        "alert_entities": (alerted_m, {}),
        "sms": (total("sms"), {}),
        "downloads": (total("downloads"), {}),
        "download_rows": (total("download_rows"), {}),
    }
    labels = [month_label(m) for m in months]
    series = [
        SeriesRead(
            key=d.key,
            name=gettext(locale, d.name),
            unit=d.unit,
            months=labels,
            values=data[d.key][0],
            breakdown=data[d.key][1],
        )
        for d in SERIES
    ]

    def s(values: Iterable[float | None]) -> float:
        return float(sum(v or 0 for v in values))

    range_values: dict[str, float | None] = {
        "records": s(data["records"][0]),
        "records_by_category": s(data["records_by_category"][0]),
        "entities": float(entities_now[1]) if entities_now else None,
        "coverage": (
            _ratio(float(credit_now[1]), float(entities_now[1]), 100)
            if credit_now and entities_now and credit_now[0] == entities_now[0]
            else None
        ),
        "institutions": float(inst_total[-1] or 0),
        "queries": s(data["queries"][0]),
        "queries_by_institution": s(data["queries_by_institution"][0]),
        "demands": s(data["demands"][0]),
        "outcomes": s(data["outcomes"][0]),
        "loans": s(loans_m),
        "amount": amount_t,
        "enterprises": float(ent_t),
        "first_time": s(first_m),
        "avg_amount": _ratio(amount_t, float(ent_t)),
        "avg_rate": _ratio(s(rate_sum_m), s(rate_n_m), 0.01, 4),
        "lpr_spread": round(spread_sum / spread_n, 2) if spread_n else None,
        "median_days": _median(hist_all),
        "models": float(models_total[-1] or 0),
        "products": float(products_total[-1] or 0),
        "decisions": s(data["decisions"][0]),
        "alerts": s(data["alerts"][0]),
        "alert_entities": float(_first_in(raw["alert_prev"], months, per_month=False)[0] or 0),
        "sms": s(data["sms"][0]),
        "downloads": s(data["downloads"][0]),
        "download_rows": s(data["download_rows"][0]),
    }
    figures = [
        FigureRead(key=d.key, name=gettext(locale, d.name), unit=d.unit, value=range_values[d.key])
        for d in SERIES
    ]
    kinds = {gettext(locale, k): int(v[-1] or 0) for k, v in inst_split.items()}
    run = repository.last_refresh(session)
    last_day = month_end_day(last)
    return StatsRead(
        from_month=month_label(first),
        to_month=month_label(last),
        refreshed_at=run.finished_at if run else None,
        figures=figures,
        series=series,
        institutions_by_kind=kinds,
        outcomes_by_channel=[
            ChannelOutcome(channel=c, status=st, demands=v) for (c, st), v in sorted(table.items())
        ],
        lpr_1y_bp=lpr_in_force(rates, Tenor.ONE_YEAR.value, last_day),
        lpr_5y_bp=lpr_in_force(rates, Tenor.FIVE_YEAR.value, last_day),
    )


def series_csv(stats: StatsRead, key: str) -> str:
    """One series as CSV: ``month,total,<dimension>…`` (UTF-8 with a BOM for spreadsheets)."""
    import csv
    import io

    found = next((s for s in stats.series if s.key == key), None)
    if found is None:
        raise InvalidStatsInput.at("series", N_("No such series."))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    dims = list(found.breakdown)
    writer.writerow(["month", found.key, *dims])
    for i, month in enumerate(found.months):
        writer.writerow(
            [month, _cell(found.values[i]), *(_cell(found.breakdown[d][i]) for d in dims)]
        )
    return "\ufeff" + out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
