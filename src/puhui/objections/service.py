"""Objections (异议): an enterprise disputes one data item of its own profile.

Invariants
- A data item is (entity, indicator, period); the disputed value is the one the profile
  shows for it (superseding applied), with its batch and its source department.
- One open objection per item. While it is open (submitted or routed) every viewer of
  the profile sees the item flagged "under objection" (``open_items``).
- The deadline is 20 *calendar* days from submission (征信业管理条例 Art. 25 counts
  days, not working days; decision 0015). The sweep reminds the department's stewards
  and the operators once at day 15 and escalates to the regulators once when overdue.
- A correction is written back as a new value of the same (entity, indicator, period)
  through ``ingest.commit_derived`` under the routed department's source, so it has
  lineage and the superseded value stays in the lake's history.
- Every step writes an audit event in the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from puhui.accounts import service as accounts
from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.catalog.errors import IndicatorNotFound
from puhui.config import Settings, get_settings
from puhui.core import jobs
from puhui.core.errors import NotFound, PermissionDenied, field_error
from puhui.core.i18n import N_, gettext
from puhui.core.masking import masked, must_mask
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.core.security import sealed_files
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.notifications import service as notifications
from puhui.objections import machine, repository
from puhui.objections.errors import AlreadyDisputed, ObjectionNotFound, WrongState
from puhui.objections.models import Objection, ObjectionAttachment
from puhui.objections.schemas import (
    LABELS,
    AttachmentRead,
    ObjectionAnswer,
    ObjectionCreate,
    ObjectionRead,
    ObjectionRoute,
    Overview,
)
from puhui.verification import service as verification

DEADLINE_DAYS = 20  # calendar days (Art. 25)
REMINDER_DAY = 15
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 5
# content types by their first bytes: the declared type of an upload is not trusted
MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG", "image/png"))
CORRECT_JOB = "objections.correct"

TEMPLATE_NEW = "objections.new"
TEMPLATE_ROUTED = "objections.routed"
TEMPLATE_ANSWERED = "objections.answered"
TEMPLATE_REMINDER = "objections.reminder"
TEMPLATE_ESCALATED = "objections.escalated"
notifications.register_template(
    TEMPLATE_NEW,
    subject=N_("New objection #{id}"),
    body=N_("[Puhui] {entity} disputes {indicator} ({period}). Route it to the source department."),
)
notifications.register_template(
    TEMPLATE_ROUTED,
    subject=N_("Objection #{id} to verify"),
    body=N_(
        "[Puhui] {entity} disputes {indicator} ({period}) that your department supplied. "
        "Answer by {due}."
    ),
)
notifications.register_template(
    TEMPLATE_ANSWERED,
    subject=N_("Your objection #{id} is answered"),
    body=N_(
        "[Puhui] Your objection to {indicator} ({period}) is answered: {outcome}. {explanation}"
    ),
)
notifications.register_template(
    TEMPLATE_REMINDER,
    subject=N_("Objection #{id} is due on {due}"),
    body=N_(
        "[Puhui] The objection of {entity} to {indicator} ({period}) must be answered by {due}."
    ),
)
notifications.register_template(
    TEMPLATE_ESCALATED,
    subject=N_("Objection #{id} is overdue"),
    body=N_(
        "[Puhui] The objection of {entity} to {indicator} ({period}) was not answered by {due}."
    ),
)


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


# --- who sees what -----------------------------------------------------------------------


def _steward_sources(session: Session, actor: Actor) -> set[str] | None:
    """None: every source (the platform's stewards); else the steward's own sources."""
    return ingest.visible_source_codes(session, actor)


def _visible(session: Session, actor: Actor, objection: Objection) -> bool:
    if actor.role in (Role.OPERATOR, Role.REGULATOR):
        return True
    if actor.role is Role.ENTERPRISE:
        return _own_entity_id(session, actor) == objection.entity_id
    if actor.role is Role.DATA_STEWARD:
        if objection.routed_source is None:
            return False
        sources = _steward_sources(session, actor)
        return sources is None or objection.routed_source in sources
    return False


def _own_entity_id(session: Session, actor: Actor) -> int | None:
    if not actor.entity_uscc:
        return None
    return entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc)


def _get(
    session: Session, actor: Actor, objection_id: int, *, for_update: bool = False
) -> Objection:
    found = repository.objection(session, objection_id, for_update=for_update)
    if found is None or not _visible(session, actor, found):
        raise ObjectionNotFound()
    return found


def _step(objection: Objection, event: str) -> None:
    try:
        objection.status = machine.advance(objection.status, event)
    except machine.IllegalTransition as exc:
        raise WrongState(state=objection.status) from exc


# --- reading -----------------------------------------------------------------------------


def read(
    session: Session,
    objections: list[Objection],
    *,
    locale: str,
    actor: Actor | None,
    now: datetime | None = None,
) -> list[ObjectionRead]:
    """What each party reads: the item named, its age in days and whether it is overdue.
    A personal or C3 value (disputed or corrected) is whole for the enterprise itself and
    for the department the objection is routed to (the source of the value, which must
    check it); operators and the regulator (``actor`` None: the overview) see it masked."""
    at = _now(now)
    own = actor is not None and actor.role in (Role.ENTERPRISE, Role.DATA_STEWARD)
    briefs = entities.briefs(session, {o.entity_id for o in objections})
    metas = {i.id: i for i in catalog.active_indicators(session)} if objections else {}
    files: dict[int, list[AttachmentRead]] = {}
    for a in repository.attachments(session, [o.id for o in objections]):
        files.setdefault(a.objection_id, []).append(AttachmentRead.model_validate(a))
    out = []
    for o in objections:
        uscc, name = briefs.get(o.entity_id, ("", ""))
        meta = metas.get(o.indicator_id)
        open_ = machine.is_open(o.status)
        hide = meta is not None and must_mask(
            meta.sensitivity, bool(meta.personal), own=own, revealed=False
        )
        shape = catalog.MASK_SHAPES.get(meta.code) if meta is not None else None

        def shown(value: str | None, hide: bool = hide, shape: str | None = shape) -> str | None:
            return masked(shape, value) if hide and value else value

        out.append(
            ObjectionRead(
                id=o.id,
                uscc=uscc,
                entity_name=name,
                indicator=meta.code if meta else str(o.indicator_id),
                indicator_name=(meta.name_en if locale == "en" else meta.name_zh) if meta else "",
                period=o.period,
                value=shown(o.value),
                batch_id=o.batch_id,
                source_code=o.source_code,
                reason=o.reason,
                status=o.status,
                status_label=gettext(locale, LABELS[o.status]),
                submitted_at=o.submitted_at,
                due_at=o.due_at,
                age_days=max(0, (at - o.submitted_at).days),
                overdue=open_ and at > o.due_at,
                routed_source=o.routed_source,
                routed_at=o.routed_at,
                outcome=o.outcome,
                outcome_label=gettext(locale, LABELS[o.outcome]) if o.outcome else None,
                explanation=o.explanation,
                corrected_value=shown(o.corrected_value),
                correction_batch_id=o.correction_batch_id,
                answered_at=o.answered_at,
                closed_at=o.closed_at,
                reminded_at=o.reminded_at,
                escalated=o.escalated,
                escalated_at=o.escalated_at,
                attachments=files.get(o.id, []),
            )
        )
    return out


def get(session: Session, *, actor: Actor, objection_id: int) -> Objection:
    return _get(session, actor, objection_id)


def list_for(
    session: Session, *, actor: Actor, status: str | None, params: PageParams
) -> Page[Objection]:
    """The enterprise's own objections, a steward's department queue (routed to it), or
    everything for operators and regulators."""
    if status is not None and status not in machine.STATES:
        raise field_error("status", N_("Unknown status {value}."), value=status[:20])
    if actor.role is Role.ENTERPRISE:
        entity_id = _own_entity_id(session, actor)
        if entity_id is None:
            return Page(items=[], total=0, page=params.page, per_page=params.per_page)
        stmt = repository.objections_query(entity_id=entity_id, status=status)
    elif actor.role is Role.DATA_STEWARD:
        sources = _steward_sources(session, actor)
        stmt = repository.objections_query(
            sources=None if sources is None else sorted(sources), status=status
        )
        if sources is None:
            stmt = stmt.where(Objection.routed_source.is_not(None))
    elif actor.role in (Role.OPERATOR, Role.REGULATOR):
        stmt = repository.objections_query(status=status)
    else:
        raise PermissionDenied(action="objection.read")
    return paginate(session, stmt, params)


def overview(session: Session, *, locale: str, now: datetime | None = None) -> Overview:
    """Every open objection with its age, oldest first (the regulator's view)."""
    at = _now(now)
    rows = list(session.scalars(repository.objections_query(open_only=True)))
    items = read(session, rows, locale=locale, actor=None, now=at)
    return Overview(
        open=len(items),
        overdue=sum(i.overdue for i in items),
        escalated=sum(i.escalated for i in items),
        items=items,
    )


def open_items(session: Session, *, entity_id: int) -> set[tuple[int, int]]:
    """(indicator id, period) of the entity's items under objection now."""
    return repository.open_items(session, entity_id)


def open_items_of(session: Session, entity_ids: list[int]) -> set[tuple[int, int, int]]:
    """(entity id, indicator id, period) of the entities' items under objection now."""
    return repository.open_items_of(session, entity_ids)


# --- the enterprise raises and withdraws ---------------------------------------------------


def _current_value(
    session: Session, entity_id: int, indicator_id: int, period: int, settings: Settings
) -> tuple[str | None, int] | None:
    """(value as text, batch id) of the item as the profile shows it, None without one."""
    try:
        rows = ingest.open_lake(settings).history(entity_id, [indicator_id])
    except FileNotFoundError:
        return None
    rows = catalog.lake_fields(session).reveal(rows.filter(pl.col("period") == period))
    if rows.height == 0:
        return None
    row = rows.row(0, named=True)
    num, text = row["value_num"], row["value_text"]
    if text is not None:
        shown: str | None = str(text)
    elif num is None:
        shown = None
    else:
        shown = str(int(num)) if float(num).is_integer() else str(num)
    return shown, int(row["batch_id"])


def submit(
    session: Session,
    *,
    actor: Actor,
    data: ObjectionCreate,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Objection:
    settings = settings or get_settings()
    at = _now(now)
    entity_id = _own_entity_id(session, actor)
    if actor.role is not Role.ENTERPRISE or entity_id is None:
        raise PermissionDenied(action="objection.raise")
    verification.require_verified(session, actor=actor)
    try:
        indicator = catalog.get(session, code=data.indicator.strip().upper())
    except IndicatorNotFound as exc:
        raise field_error(
            "indicator", N_("Unknown indicator {value}."), value=data.indicator[:40]
        ) from exc
    reason = data.reason.strip()
    if len(reason) < 4:
        raise field_error("reason", N_("Say what is wrong (at least 4 characters)."))
    found = _current_value(session, entity_id, indicator.id, data.period, settings)
    if found is None:
        raise field_error(
            "period",
            N_("Your profile has no value of this indicator for {value}."),
            value=data.period,
        )
    if repository.open_on_item(
        session, entity_id=entity_id, indicator_id=indicator.id, period=data.period
    ):
        raise AlreadyDisputed()
    value, batch_id = found
    origin = ingest.lineage(session, [batch_id]).get(batch_id)
    objection = Objection(
        entity_id=entity_id,
        user_id=actor.user_id,
        indicator_id=indicator.id,
        period=data.period,
        batch_id=batch_id,
        value=None if value is None else value[:500],
        source_code=origin.source_code if origin else None,
        reason=reason,
        status=machine.SUBMITTED,
        submitted_at=at,
        due_at=at + timedelta(days=DEADLINE_DAYS),
        escalated=False,
    )
    session.add(objection)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="objection.submit",
        target_type="objection",
        target_id=objection.id,
        details={"indicator": indicator.code, "period": data.period, "batch_id": batch_id},
    )
    params = _params(session, objection)
    for user_id in _platform_staff(session, Role.OPERATOR):
        notifications.notify(
            session,
            template=TEMPLATE_NEW,
            params=params,
            user_id=user_id,
            channels=("inbox",),
            dedupe_key=f"objection:{objection.id}:new:{user_id}",
        )
    return objection


def withdraw(
    session: Session, *, actor: Actor, objection_id: int, now: datetime | None = None
) -> Objection:
    objection = _get(session, actor, objection_id, for_update=True)
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="objection.withdraw")
    _step(objection, "withdraw")
    objection.closed_at = _now(now)
    audit.record(
        session,
        actor=actor,
        action="objection.withdraw",
        target_type="objection",
        target_id=objection.id,
    )
    return objection


def close(
    session: Session, *, actor: Actor, objection_id: int, now: datetime | None = None
) -> Objection:
    """The enterprise acknowledges the answer and closes its objection."""
    objection = _get(session, actor, objection_id, for_update=True)
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="objection.close")
    _step(objection, "close")
    objection.closed_at = _now(now)
    audit.record(
        session,
        actor=actor,
        action="objection.close",
        target_type="objection",
        target_id=objection.id,
    )
    return objection


ATTACHMENT_MAGIC = b"PHOB1"


def _storage(settings: Settings) -> Path:
    return settings.data_dir / "objections"


def add_attachment(
    session: Session,
    *,
    actor: Actor,
    objection_id: int,
    filename: str,
    content: bytes,
    settings: Settings | None = None,
) -> ObjectionAttachment:
    """Attach a pdf, jpg or png (at most 5 MB, 5 files) to an open objection of one's own."""
    settings = settings or get_settings()
    objection = _get(session, actor, objection_id, for_update=True)
    if actor.role is not Role.ENTERPRISE:
        raise PermissionDenied(action="objection.attach")
    if not machine.is_open(objection.status):
        raise WrongState(state=objection.status)
    if len(content) == 0:
        raise field_error("file", N_("Choose a file to attach."))
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise field_error("file", N_("The file is larger than {value} MB."), value=5)
    kind = next((t for magic, t in MAGIC if content.startswith(magic)), None)
    if kind is None:
        raise field_error("file", N_("Attach a PDF, JPG or PNG file."))
    if len(repository.attachments(session, [objection.id])) >= MAX_ATTACHMENTS:
        raise field_error(
            "file", N_("At most {value} files can be attached."), value=MAX_ATTACHMENTS
        )
    digest = hashlib.sha256(content).hexdigest()
    # an ID card or a letter with numbers on it: kept encrypted, under a random name
    stored = sealed_files.save(
        _storage(settings), magic=ATTACHMENT_MAGIC, aad=_attachment_aad(objection.id, digest),
        data=content,
    )  # fmt: skip
    name = Path(filename or "file").name.strip()[:255] or "file"
    row = ObjectionAttachment(
        objection_id=objection.id,
        filename=name,
        content_type=kind,
        size_bytes=len(content),
        sha256=digest,
        stored_name=stored,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="objection.attach",
        target_type="objection",
        target_id=objection.id,
        details={"sha256": digest, "bytes": len(content)},
    )
    return row


def _attachment_aad(objection_id: int, digest: str) -> bytes:
    return f"puhui-objection/1|{objection_id}|{digest}".encode()


def _attachment_bytes(row: ObjectionAttachment, settings: Settings) -> bytes | None:
    folder = _storage(settings)
    if row.stored_name is None:  # attached before encryption: the plain file, as it was
        try:
            return (folder / row.sha256).read_bytes()
        except FileNotFoundError:
            return None
    return sealed_files.load(
        folder,
        row.stored_name,
        magic=ATTACHMENT_MAGIC,
        aad=_attachment_aad(row.objection_id, row.sha256),
    )


def attachment_file(
    session: Session,
    *,
    actor: Actor,
    objection_id: int,
    attachment_id: int,
    settings: Settings | None = None,
) -> tuple[ObjectionAttachment, bytes]:
    """An attachment (its row and content) for the parties of its objection only (others:
    not found)."""
    settings = settings or get_settings()
    objection = _get(session, actor, objection_id)
    row = repository.attachment(session, attachment_id)
    if row is None or row.objection_id != objection.id:
        raise NotFound("No such attachment.")
    content = _attachment_bytes(row, settings)
    if content is None:
        raise NotFound("No such attachment.")
    audit.record(
        session,
        actor=actor,
        action="objection.attachment_read",
        target_type="objection",
        target_id=objection.id,
        details={"attachment_id": row.id},
    )
    return row, content


def reseal_attachments(session: Session, *, settings: Settings | None = None) -> int:
    """``puhui keys rotate``: encrypt every attachment under an older data key again under
    the active one, and encrypt the plain files of attachments made before encryption
    (the plain file is deleted once no such attachment names it). Returns the files
    rewritten."""
    settings = settings or get_settings()
    folder = _storage(settings)
    done = 0
    plain: set[str] = set()
    for row in repository.all_attachments(session):
        aad = _attachment_aad(row.objection_id, row.sha256)
        if row.stored_name is not None:
            done += sealed_files.reseal(folder, row.stored_name, magic=ATTACHMENT_MAGIC, aad=aad)
            continue
        content = _attachment_bytes(row, settings)
        if content is None:
            continue
        row.stored_name = sealed_files.save(folder, magic=ATTACHMENT_MAGIC, aad=aad, data=content)
        plain.add(row.sha256)
        done += 1
    session.flush()
    for digest in plain:
        sealed_files.delete(folder, digest)
    return done


def remove_orphan_files(
    session: Session, *, settings: Settings | None = None, now: datetime | None = None
) -> int:
    """Delete encrypted attachment files no row names, an hour after they were written (a
    request that failed after writing its file)."""
    folder = _storage(settings or get_settings())
    before = (_now(now) - timedelta(hours=1)).timestamp()
    old = [n for n in sealed_files.older_files(folder, before=before) if len(n) == 32]
    removed = 0
    for start in range(0, len(old), 500):
        names = old[start : start + 500]
        for orphan in set(names) - repository.known_attachment_names(session, names):
            sealed_files.delete(folder, orphan)
            removed += 1
    return removed


# --- the operator routes, the department answers ------------------------------------------


def route(
    session: Session,
    *,
    actor: Actor,
    objection_id: int,
    data: ObjectionRoute,
    now: datetime | None = None,
) -> Objection:
    objection = _get(session, actor, objection_id, for_update=True)
    code = (data.source or objection.source_code or "").strip().upper()
    if not code:
        raise field_error("source", N_("Choose the source department."))
    try:
        source = ingest.get_source(session, code=code)
    except NotFound as exc:
        raise field_error("source", N_("Unknown data source {value}."), value=code) from exc
    _step(objection, "route")
    objection.routed_source = source.code
    objection.routed_at = _now(now)
    objection.routed_by = actor.user_id
    audit.record(
        session,
        actor=actor,
        action="objection.route",
        target_type="objection",
        target_id=objection.id,
        details={"source": source.code},
    )
    params = _params(session, objection)
    for user_id in _stewards(session, source.institution_id):
        notifications.notify(
            session,
            template=TEMPLATE_ROUTED,
            params=params,
            user_id=user_id,
            channels=("inbox",),
            dedupe_key=f"objection:{objection.id}:routed:{source.code}:{user_id}",
        )
    return objection


def _check_value(value_type: str, raw: str | None) -> tuple[float | None, str | None]:
    """(value_num, value_text) of a corrected value, as the lake stores that type."""
    text = (raw or "").strip()
    if not text:
        raise field_error("corrected_value", N_("Give the corrected value."))
    if value_type in ("amount", "ratio", "count"):
        try:
            num = float(text.replace(",", ""))
        except ValueError as exc:
            raise field_error(
                "corrected_value", N_("{value} is not a number."), value=text[:40]
            ) from exc
        if not math.isfinite(num):
            raise field_error("corrected_value", N_("{value} is not a number."), value=text[:40])
        if value_type == "count" and not num.is_integer():
            raise field_error(
                "corrected_value", N_("{value} is not a whole number."), value=text[:40]
            )
        return num, None
    if value_type == "flag":
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "y", "是"}:
            return 1.0, None
        if lowered in {"0", "false", "no", "n", "否"}:
            return 0.0, None
        raise field_error("corrected_value", N_("Answer yes (1) or no (0)."))
    return None, text


def answer(
    session: Session,
    *,
    actor: Actor,
    objection_id: int,
    data: ObjectionAnswer,
    now: datetime | None = None,
) -> Objection:
    """The department's written answer; a correction is queued to be written back."""
    objection = _get(session, actor, objection_id, for_update=True)
    if actor.role is not Role.DATA_STEWARD:
        raise PermissionDenied(action="objection.answer")
    explanation = data.explanation.strip()
    if len(explanation) < 4:
        raise field_error("explanation", N_("Explain the outcome (at least 4 characters)."))
    corrected: str | None = None
    meta = next(i for i in catalog.active_indicators(session) if i.id == objection.indicator_id)
    if data.outcome == "corrected":
        num, text = _check_value(meta.value_type, data.corrected_value)
        corrected = text if text is not None else _plain(num)
    elif data.corrected_value:
        raise field_error("corrected_value", N_("Only a correction carries a corrected value."))
    _step(objection, "answer")
    at = _now(now)
    objection.outcome = data.outcome
    objection.explanation = explanation
    objection.corrected_value = corrected
    objection.answered_at = at
    objection.answered_by = actor.user_id
    audit.record(
        session,
        actor=actor,
        action="objection.answer",
        target_type="objection",
        target_id=objection.id,
        # the audit chain is permanent and readable by auditors: a personal value (an ID
        # or mobile number, a name) stays in the objection's encrypted columns and the lake
        details=(
            {"outcome": data.outcome, "values": "personal, not recorded"}
            if meta.personal or meta.sensitivity == "C3"
            else {
                "outcome": data.outcome,
                "corrected_value": corrected,
                "old_value": objection.value,
            }
        ),
    )
    if corrected is not None:
        jobs.enqueue(
            session,
            CORRECT_JOB,
            {"objection_id": objection.id},
            dedupe_key=f"objection-correct:{objection.id}",
        )
    params = _params(session, objection)
    params["outcome"] = gettext(get_settings().default_locale, LABELS[data.outcome])
    params["explanation"] = explanation[:200]
    if objection.user_id is not None:
        notifications.notify(
            session,
            template=TEMPLATE_ANSWERED,
            params=params,
            user_id=objection.user_id,
            channels=("inbox", "sms"),
            dedupe_key=f"objection:{objection.id}:answered",
        )
    return objection


def _plain(num: float | None) -> str:
    assert num is not None
    return str(int(num)) if num.is_integer() else str(num)


def write_correction(
    factory: sessionmaker[Session], *, objection_id: int, settings: Settings | None = None
) -> int | None:
    """Write an answered correction back to the lake as a batch of the routed
    department's source (the job; runs again safely: the same rows are one batch)."""
    with factory() as session:
        objection = repository.objection(session, objection_id)
        if objection is None or objection.outcome != "corrected" or objection.routed_source is None:
            return None
        meta = next(i for i in catalog.active_indicators(session) if i.id == objection.indicator_id)
        num, text = _check_value(meta.value_type, objection.corrected_value)
        source, entity_id = objection.routed_source, objection.entity_id
        indicator_id, period = objection.indicator_id, objection.period
    rows = pl.DataFrame(
        {
            "entity_id": [entity_id],
            "indicator_id": [indicator_id],
            "period": [period],
            "value_num": [num],
            "value_text": [text],
        },
        schema={
            "entity_id": pl.Int32,
            "indicator_id": pl.Int16,
            "period": pl.Int32,
            "value_num": pl.Float64,
            "value_text": pl.String,
        },
    )
    batch_id = ingest.commit_derived(
        factory,
        source_code=source,
        label=f"objection-{objection_id}-correction",
        rows=rows,
        settings=settings,
    )
    with factory.begin() as session:
        objection = repository.objection(session, objection_id, for_update=True)
        assert objection is not None
        objection.correction_batch_id = batch_id
        audit.record(
            session,
            actor=None,
            username="platform",
            action="objection.corrected",
            target_type="objection",
            target_id=objection_id,
            details={"batch_id": batch_id},
        )
    return batch_id


# --- the deadline --------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    reminded: int
    escalated: int


def sweep(session: Session, *, now: datetime | None = None) -> SweepResult:
    """Remind at day 15 and escalate when overdue, each once per objection."""
    at = _now(now)
    reminded = escalated = 0
    for o in repository.due_for_reminder(
        session, submitted_before=at - timedelta(days=REMINDER_DAY)
    ):
        o.reminded_at = at
        reminded += 1
        params = _params(session, o)
        users = set(_platform_staff(session, Role.OPERATOR))
        if o.routed_source:
            users |= set(
                _stewards(session, ingest.get_source(session, code=o.routed_source).institution_id)
            )
        for user_id in sorted(users):
            notifications.notify(
                session,
                template=TEMPLATE_REMINDER,
                params=params,
                user_id=user_id,
                channels=("inbox",),
                dedupe_key=f"objection:{o.id}:reminder:{user_id}",
            )
        audit.record(
            session,
            actor=None,
            username="platform",
            action="objection.remind",
            target_type="objection",
            target_id=o.id,
            details={"users": len(users)},
        )
    for o in repository.overdue(session, now=at):
        o.escalated, o.escalated_at = True, at
        escalated += 1
        params = _params(session, o)
        regulators = _platform_staff(session, Role.REGULATOR)
        for user_id in regulators:
            notifications.notify(
                session,
                template=TEMPLATE_ESCALATED,
                params=params,
                user_id=user_id,
                channels=("inbox",),
                dedupe_key=f"objection:{o.id}:escalated:{user_id}",
            )
        audit.record(
            session,
            actor=None,
            username="platform",
            action="objection.escalate",
            target_type="objection",
            target_id=o.id,
            details={"regulators": len(regulators)},
        )
    session.flush()
    return SweepResult(reminded=reminded, escalated=escalated)


# --- helpers -------------------------------------------------------------------------------


def _params(session: Session, o: Objection) -> dict[str, Any]:
    briefs = entities.briefs(session, [o.entity_id])
    meta = next((i for i in catalog.active_indicators(session) if i.id == o.indicator_id), None)
    return {
        "id": o.id,
        "entity": briefs.get(o.entity_id, ("", ""))[1],
        "indicator": meta.name_zh if meta else str(o.indicator_id),
        "period": o.period,
        "due": f"{o.due_at:%Y-%m-%d}",
    }


def _platform_staff(session: Session, role: Role) -> list[int]:
    kinds = {Role.OPERATOR: InstitutionKind.PLATFORM, Role.REGULATOR: InstitutionKind.REGULATOR}
    out: list[int] = []
    for inst in accounts.all_institutions(session):
        if inst.kind == kinds[role].value and inst.is_active:
            out.extend(
                uid
                for uid, _ in accounts.institution_staff(
                    session, institution_id=inst.id, role=role.value
                )
            )
    return out


def _stewards(session: Session, institution_id: int | None) -> list[int]:
    """The stewards of the department's institution; the platform's without one."""
    if institution_id is not None:
        return [
            uid
            for uid, _ in accounts.institution_staff(
                session, institution_id=institution_id, role=Role.DATA_STEWARD.value
            )
        ]
    out: list[int] = []
    for inst in accounts.all_institutions(session):
        if inst.kind == InstitutionKind.PLATFORM.value:
            out.extend(
                uid
                for uid, _ in accounts.institution_staff(
                    session, institution_id=inst.id, role=Role.DATA_STEWARD.value
                )
            )
    return out
