"""Acquisition by filter (一筛可得): lending staff find prospects by conditions on the 50
key indicators, over the memory-mapped snapshot; enterprises opt out of being found.

Invariants
- Only key indicators are filterable, and only with ops that fit their value type
  (``filters.plan`` checks both and names the failing condition).
- Evaluation reads the snapshot's columns where they are mapped (no copy, no entity as a
  Python object); only the page's ids reach the database, in one query.
- Opted-out entities (personal-information law Art. 24) and snapshot rows that are no
  registered entity are never counted nor returned: one cached boolean mask, rebuilt when
  the registry's or the opt-outs' change token, or the snapshot's length, moves.
- A result shows public registry facts, the health and credit grades, and the values of
  the filtered indicators that are public; other values stay behind the consent scope of
  the profile. ``core.masking.must_mask`` has the last word on anything shown.
- Every run writes one audit event (who, institution, conditions, count) in the caller's
  transaction; every opt-out change writes one too, with the change counter's bump.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from puhui.acquisition import filters, repository
from puhui.acquisition.errors import InvalidFilter, NotALender
from puhui.acquisition.filters import KeySpec, Matches, Plan
from puhui.acquisition.schemas import (
    FilterHit,
    FilterRequest,
    FilterResult,
    KeyIndicator,
    MarketingPreference,
    MarketingUpdate,
)
from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.config import Settings, get_settings
from puhui.core.errors import PermissionDenied
from puhui.core.masking import must_mask
from puhui.core.policy import LENDING_KINDS, Actor, Role
from puhui.core.snapshot import Snapshot, SnapshotNotFound, SnapshotView, snapshot_dtype
from puhui.entities import service as entities
from puhui.entities.errors import EntityNotFound
from puhui.ingest import service as ingest

__all__ = [
    "CREDIT_GRADE",
    "HEALTH_GRADE",
    "HEALTH_SCORE",
    "InvalidFilter",
    "KeySpec",
    "eligible_mask",
    "filter_summary",
    "key_frame",
    "key_indicator_choices",
    "key_indicators",
    "marketing_preference",
    "matching_usccs",
    "run_filter",
    "set_marketing",
    "snapshot_view",
]

HEALTH_SCORE = "CRE_HEALTH_SCORE"
HEALTH_GRADE = "CRE_HEALTH_GRADE"
CREDIT_GRADE = "CRE_CREDIT_GRADE"
AUDIT_FILTER = "acquisition.filter"
AUDIT_SUMMARY_CHARS = 2000

_lock = Lock()
_keys: dict[int, dict[str, KeySpec]] = {}  # catalog version -> key specs (one kept)
_snapshots: dict[Path, Snapshot] = {}
_eligible: dict[str, tuple[tuple[str, str, int], np.ndarray]] = {}


# --- the key indicators ----------------------------------------------------------------------


def key_indicators(session: Session) -> dict[str, KeySpec]:
    """The 50 key indicators by code, in catalog id order (cached per catalog version)."""
    version = catalog.current_version(session)
    number = version.version if version is not None else 0
    kept = _keys.get(number)
    if kept is not None:
        return kept
    specs = {
        i.code: KeySpec(
            code=i.code,
            category=i.category,
            value_type=i.value_type,
            allowed_values=tuple(i.allowed_values or ()),
            sensitivity=i.sensitivity,
            personal=bool(i.personal),
            name_zh=i.name_zh,
            name_en=i.name_en,
            unit=i.unit,
        )
        for i in sorted(catalog.active_indicators(session), key=lambda i: i.id)
        if i.is_key
    }
    with _lock:
        _keys.clear()
        _keys[number] = specs
    return specs


def key_indicator_choices(session: Session) -> list[KeyIndicator]:
    return [
        KeyIndicator(
            code=s.code,
            category=s.category,
            name_zh=s.name_zh,
            name_en=s.name_en,
            unit=s.unit,
            value_type=s.value_type,
            allowed_values=list(s.allowed_values),
            ops=list(s.ops),
        )
        for s in key_indicators(session).values()
    ]


# --- filtering ---------------------------------------------------------------------------------


def run_filter(
    session: Session, *, actor: Actor, request: FilterRequest, settings: Settings | None = None
) -> FilterResult:
    """Count every eligible entity matching ``request`` and return the requested page."""
    _check_lender(actor)
    specs = key_indicators(session)
    plan = filters.plan(request, specs)
    view = _view(settings or get_settings())
    if view is None:
        matches, hits, version = Matches(total=0, ids=[]), [], None
    else:
        frame = _frame(view, [*plan.columns, plan.sort], specs)
        matches = filters.run(frame, plan, eligible=_eligible_mask(session, view.n_entities))
        hits = _hits(session, view, plan, matches.ids, specs)
        version = view.version
    audit.record(
        session,
        actor=actor,
        action=AUDIT_FILTER,
        target_type="filter",
        details={
            "conditions": filters.summary(request)[:AUDIT_SUMMARY_CHARS],
            "sort": f"{plan.sort} {request.sort.order}",
            "total": matches.total,
            "offset": plan.offset,
            "returned": len(hits),
            "snapshot_version": version,
        },
    )
    return FilterResult(
        total=matches.total,
        limit=plan.limit,
        offset=plan.offset,
        sort=request.sort,
        snapshot_version=version,
        items=hits,
    )


def count(session: Session, *, actor: Actor, request: FilterRequest) -> int:
    """The live count of the filter builder: the number of matches, nothing else read.
    Not audited (it runs on every keystroke and shows no entity); the search that shows
    entities is."""
    _check_lender(actor)
    plan = filters.plan(request, key_indicators(session))
    view = _view(get_settings())
    if view is None:
        return 0
    frame = _frame(view, [*plan.columns, plan.sort], key_indicators(session))
    return filters.count(frame, plan, eligible=_eligible_mask(session, view.n_entities))


@dataclass(frozen=True)
class MatchSet:
    """Every eligible entity a filter matches now: ascending ids, and the snapshot read."""

    ids: np.ndarray
    snapshot_version: int | None


def match_set(session: Session, definition: FilterRequest) -> MatchSet:
    """All matches of a filter (a saved filter's run), not audited here: the caller records
    the run."""
    specs = key_indicators(session)
    plan = filters.plan(definition, specs)
    view = _view(get_settings())
    if view is None:
        return MatchSet(ids=np.zeros(0, dtype=np.int64), snapshot_version=None)
    frame = _frame(view, list(plan.columns), specs)
    rows = np.flatnonzero(
        filters.mask(frame, plan, eligible=_eligible_mask(session, view.n_entities))
    )
    return MatchSet(ids=rows.astype(np.int64), snapshot_version=view.version)


def ranked(
    session: Session, definition: FilterRequest, ids: np.ndarray, *, limit: int, offset: int
) -> tuple[int, list[FilterHit]]:
    """Of ``ids`` (ascending), those still eligible, ordered by the filter's sort on today's
    snapshot: (how many, the page's hits)."""
    specs = key_indicators(session)
    plan = filters.plan(definition, specs)
    view = _view(get_settings())
    if view is None or ids.size == 0:
        return 0, []
    ids = ids[ids < view.n_entities]
    ids = ids[_eligible_mask(session, view.n_entities)[ids]]
    total = int(ids.size)
    if offset >= total:
        return total, []
    frame = _frame(view, [plan.sort], specs)
    key = filters.sort_key(frame.get_column(plan.sort)).gather(pl.Series(ids, dtype=pl.UInt32))
    best = filters.best(ids, key, offset + limit, descending=plan.descending)[offset:]
    return total, _hits(session, view, plan, [int(i) for i in best], specs)


def check(session: Session, request: FilterRequest) -> None:
    """Raise the filter's 422 (naming the condition) if ``request`` cannot run today."""
    filters.plan(request, key_indicators(session))


def opted_out(session: Session, entity_id: int) -> bool:
    return repository.optout(session, entity_id) is not None


@dataclass(frozen=True)
class EntityFacts:
    """One entity's values of some key indicators on today's snapshot, and which of a list
    of conditions hold for it (evaluated exactly as the filter evaluates them)."""

    values: dict[str, Any]
    holds: list[bool]
    snapshot_version: int | None


def entity_facts(
    session: Session, entity_id: int, codes: Sequence[str], conditions: Sequence[Any] = ()
) -> EntityFacts:
    """``codes`` (key indicators) and every indicator ``conditions`` (filter nodes) read,
    for one entity, and whether each condition holds. A condition that does not plan
    (unknown or non-key indicator…) raises the filter's 422 at ``conditions.0…``."""
    specs = key_indicators(session)
    plans = [filters.plan(FilterRequest(conditions=[node]), specs) for node in conditions]
    for code in codes:
        filters.plan(FilterRequest(sort={"indicator": code}), specs)  # a key indicator?
    wanted = list(dict.fromkeys([*codes, *(c for p in plans for c in p.columns)]))
    view = _view(get_settings())
    inside = view is not None and 0 <= entity_id < view.n_entities
    columns = []
    for code in wanted:
        if inside and view is not None and code in view.group_of:
            columns.append(view.column(code).slice(entity_id, 1))
        else:
            spec = specs[code]
            dtype = snapshot_dtype(spec.value_type, spec.allowed_values) or pl.String()
            columns.append(pl.Series(code, [None], dtype=dtype))
    frame = pl.DataFrame(columns)
    values = {c: _value(frame.get_column(c)[0]) for c in codes}
    holds = [bool(filters.mask(frame, p)[0]) for p in plans]
    version = view.version if view is not None else None
    return EntityFacts(values=values, holds=holds, snapshot_version=version)


def matching_usccs(
    session: Session, *, actor: Actor, request: FilterRequest, at_most: int
) -> tuple[int, list[str]]:
    """(count, USCCs) of every eligible entity matching ``request``'s conditions (sort and
    page ignored), for private set intersection. The USCCs come back only when the count is
    at most ``at_most`` (else an empty list): a broad filter costs one count, not a list."""
    _check_lender(actor)
    specs = key_indicators(session)
    plan = filters.plan(request, specs)
    view = _view(get_settings())
    if view is None:
        return 0, []
    frame = _frame(view, [*plan.columns, plan.sort], specs)
    rows = np.flatnonzero(
        filters.mask(frame, plan, eligible=_eligible_mask(session, view.n_entities))
    )
    if rows.size > at_most:
        return int(rows.size), []
    registry = entities.registry_frame(session)
    wanted = pl.DataFrame({"entity_id": pl.Series(rows, dtype=registry["entity_id"].dtype)})
    usccs = wanted.join(registry.select("entity_id", "uscc"), on="entity_id").get_column("uscc")
    return int(rows.size), usccs.to_list()


def filter_summary(request: FilterRequest) -> str:
    """A filter in one readable line (``CRE_HEALTH_SCORE >= 60 and …``): what lead lists
    show and audit records carry."""
    return filters.summary(request)


def _check_lender(actor: Actor) -> None:
    if actor.role not in (Role.CUSTOMER_MANAGER, Role.RISK_MANAGER):
        raise PermissionDenied(action=AUDIT_FILTER)
    if actor.institution_id is None or actor.institution_kind not in LENDING_KINDS:
        raise NotALender()


def snapshot_view(settings: Settings | None = None) -> SnapshotView | None:
    """The current snapshot (None before the first one): what scoring reads too."""
    return _view(settings or get_settings())


def key_frame(session: Session, view: SnapshotView, codes: Sequence[str]) -> pl.DataFrame:
    """The mapped columns of key indicators ``codes``, row ``i`` being entity ``i``."""
    return _frame(view, codes, key_indicators(session))


def eligible_mask(session: Session, n: int) -> np.ndarray:
    """Rows that are registered entities and did not opt out of marketing (read-only)."""
    return _eligible_mask(session, n)


def _view(settings: Settings) -> SnapshotView | None:
    """The current snapshot version, from one reader per process and folder."""
    path = ingest.snapshot_dir(settings).resolve()
    with _lock:
        snap = _snapshots.get(path)
        if snap is None:
            try:
                snap = _snapshots[path] = Snapshot.open(path)
            except SnapshotNotFound:
                return None
    try:
        return snap.current()
    except SnapshotNotFound:
        return None


def _frame(view: SnapshotView, codes: Sequence[str], specs: dict[str, KeySpec]) -> pl.DataFrame:
    """The mapped columns of ``codes`` (a key indicator the snapshot does not hold yet is
    an empty column of its type)."""
    columns = []
    for code in dict.fromkeys(codes):
        if code in view.group_of:
            columns.append(view.column(code))
        else:
            spec = specs[code]
            dtype = snapshot_dtype(spec.value_type, spec.allowed_values) or pl.String()
            columns.append(pl.Series(code, dtype=dtype).extend_constant(None, view.n_entities))
    return pl.DataFrame(columns)


def _eligible_mask(session: Session, n: int) -> np.ndarray:
    """Rows that are registered entities and did not opt out of marketing."""
    key = (entities.registry_version(session), repository.state_token(session), n)
    with _lock:
        kept = _eligible.get("mask")
        if kept is not None and kept[0] == key:
            return kept[1]
    ids = entities.registry_frame(session).get_column("entity_id").to_numpy()
    mask = np.zeros(n, dtype=bool)
    mask[ids[(ids >= 0) & (ids < n)]] = True
    out = np.asarray(repository.optout_ids(session), dtype=np.int64)
    mask[out[out < n]] = False
    mask.flags.writeable = False  # shared by every request until the key moves
    with _lock:
        _eligible["mask"] = (key, mask)
    return mask


def _hits(
    session: Session,
    view: SnapshotView,
    plan: Plan,
    ids: list[int],
    specs: dict[str, KeySpec],
) -> list[FilterHit]:
    if not ids:
        return []
    shown = [c for c in plan.columns if _public(specs[c]) and c in view.group_of]
    codes = [c for c in (HEALTH_GRADE, CREDIT_GRADE, *shown) if c in view.group_of]
    index = pl.Series("id", ids, dtype=pl.UInt32)
    cells = {code: view.column(code).gather(index).to_list() for code in codes}
    hits = []
    for row, entity in _registered(session, ids):
        hits.append(
            FilterHit(
                uscc=entity.uscc,
                name=entity.name,
                kind=entity.kind,
                district=entity.district,
                industry_section=entity.industry_section,
                health_grade=_cell(cells, HEALTH_GRADE, row),
                credit_grade=_cell(cells, CREDIT_GRADE, row),
                values={code: _value(cells[code][row]) for code in shown},
            )
        )
    return hits


def _registered(session: Session, ids: list[int]) -> list[tuple[int, Any]]:
    """(position in ``ids``, entity) for the page, in one query."""
    found = {e.id: e for e in entities.many(session, ids)}
    return [(row, found[i]) for row, i in enumerate(ids) if i in found]


def _public(spec: KeySpec) -> bool:
    """Values a filter result may show: public, and not masked for a third party."""
    masked = must_mask(spec.sensitivity, spec.personal, own=False, revealed=False)
    return spec.sensitivity == "public" and not masked


def _cell(cells: dict[str, list[Any]], code: str, row: int) -> str | None:
    values = cells.get(code)
    return None if values is None or values[row] is None else str(values[row])


def _value(value: Any) -> bool | int | float | str | None:
    if isinstance(value, float):
        return float(f"{value:.7g}")  # a Float32 cell, without its binary noise
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


# --- marketing opt-out -------------------------------------------------------------------------


def marketing_preference(session: Session, *, actor: Actor) -> MarketingPreference:
    row = repository.optout(session, _own_entity(session, actor))
    return MarketingPreference(opted_out=row is not None, since=row.created_at if row else None)


def set_marketing(session: Session, *, actor: Actor, data: MarketingUpdate) -> MarketingPreference:
    """An enterprise opts out of (or back into) being found by marketing filters."""
    entity_id = _own_entity(session, actor)
    current = repository.optout(session, entity_id)
    if data.opted_out and current is None:
        repository.add_optout(session, entity_id=entity_id, user_id=actor.user_id)
    elif not data.opted_out and current is not None:
        repository.remove_optout(session, current)
    else:
        return marketing_preference(session, actor=actor)
    repository.bump_state(session)
    audit.record(
        session,
        actor=actor,
        action="marketing.opt_out" if data.opted_out else "marketing.opt_in",
        target_type="entity",
        target_id=actor.entity_uscc,
    )
    return marketing_preference(session, actor=actor)


def _own_entity(session: Session, actor: Actor) -> int:
    if actor.role is not Role.ENTERPRISE or not actor.entity_uscc:
        raise PermissionDenied(action="marketing.manage")
    found = entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc)
    if found is None:
        raise EntityNotFound()
    return found
