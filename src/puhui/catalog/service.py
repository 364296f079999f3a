"""Loading and reading the indicator catalog.

``load`` is the one way the catalog changes: it reads the reviewed data file, refuses a
file that changed under a version number already loaded, keeps every code's id stable
(new codes get new ids, removed codes are retired, never deleted — the lake refers to ids),
and records the version with the file's SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from puhui.catalog import file as catalog_file
from puhui.catalog import repository
from puhui.catalog.errors import CatalogChangedWithoutVersion, IndicatorNotFound
from puhui.catalog.models import CatalogVersion, Indicator
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.security.lake_fields import LakeFields

# how a personal text indicator is masked (others keep their first and last characters)
MASK_SHAPES = {
    "BAS_LEGAL_REP_NAME": "name",
    "BAS_LEGAL_REP_ID": "id_number",
    "BAS_CONTACT_MOBILE": "mobile",
}
# text indicators of these sensitivities hold personal identifiers: encrypted in the lake
SEALED_SENSITIVITIES = frozenset({"C2", "C3"})
CATEGORIES = catalog_file.CATEGORIES
VALUE_TYPES = catalog_file.VALUE_TYPES


@dataclass(frozen=True)
class LoadResult:
    version: int
    changed: bool
    added: int
    updated: int
    retired: int


def load(session: Session, data: catalog_file.CatalogFile | None = None) -> LoadResult:
    data = data or catalog_file.read()
    known = repository.version(session, data.version)
    if known is not None:
        if known.sha256 != data.sha256:
            raise CatalogChangedWithoutVersion()
        return LoadResult(data.version, changed=False, added=0, updated=0, retired=0)
    latest = repository.latest_version(session)
    if latest is not None and latest.version > data.version:
        raise CatalogChangedWithoutVersion(
            "The catalog file's version {file} is older than the loaded version {loaded}.",
            file=data.version,
            loaded=latest.version,
        )
    existing = {ind.code: ind for ind in repository.all_indicators(session)}
    next_id = repository.max_id(session) + 1
    added = updated = 0
    for row in data.rows:
        values = {
            "category": row.category,
            "name_zh": row.name_zh,
            "name_en": row.name_en,
            "definition": row.definition,
            "unit": row.unit,
            "value_type": row.value_type,
            "allowed_values": list(row.allowed_values),
            "min_value": row.min_value,
            "max_value": row.max_value,
            "source": row.source,
            "level": row.level,
            "frequency": row.frequency,
            "time_series": row.time_series,
            "sensitivity": row.sensitivity,
            "personal": row.personal,
            "is_key": row.is_key,
            "is_warning": row.is_warning,
            "retired": False,
            "catalog_version": data.version,
        }
        current = existing.pop(row.code, None)
        if current is None:
            session.add(Indicator(id=next_id, code=row.code, **values))
            next_id += 1
            added += 1
        else:
            if any(getattr(current, k) != v for k, v in values.items() if k != "catalog_version"):
                updated += 1
            for k, v in values.items():
                setattr(current, k, v)
    for gone in existing.values():
        gone.retired = True
    session.add(CatalogVersion(version=data.version, sha256=data.sha256, indicators=len(data.rows)))
    session.flush()
    return LoadResult(
        data.version, changed=True, added=added, updated=updated, retired=len(existing)
    )


def current_version(session: Session) -> CatalogVersion | None:
    return repository.latest_version(session)


def list_indicators(
    session: Session,
    *,
    category: str | None = None,
    key: bool | None = None,
    warning: bool | None = None,
    q: str | None = None,
    source: str | None = None,
    params: PageParams,
) -> Page[Indicator]:
    stmt = repository.indicators_query(
        category=category, key=key, warning=warning, q=q, source=source
    )
    return paginate(session, stmt, params)


def get(session: Session, *, code: str) -> Indicator:
    ind = repository.by_code(session, code)
    if ind is None:
        raise IndicatorNotFound()
    return ind


def active_indicators(session: Session) -> list[Indicator]:
    return [i for i in repository.all_indicators(session) if not i.retired]


def counts(session: Session) -> dict[str, int]:
    return repository.counts(session)


def lake_fields(session: Session) -> LakeFields:
    """Which indicators' text values the lake keeps encrypted (text indicators of
    sensitivity C2 or C3), with the code of every text indicator for reading."""
    rows = repository.text_indicators(session)
    return LakeFields.of(
        {i: code for i, code, _ in rows},
        [i for i, _, sensitivity in rows if sensitivity in SEALED_SENSITIVITIES],
    )
