"""Pages: the filter builder (`/acquisition`) with its live count and "save", saved
filters with their runs, lead lists, files and invitations (`/acquisition/saved`,
`/acquisition/invitations`), and an enterprise's marketing opt-out and invitations
(`/me/marketing`, `/me/invitations`).

The builder is one GET form (rows of indicator, op and value): it works without
JavaScript (submitting runs the filter; "add" and "remove" re-render the rows), and with
HTMX every change asks `/acquisition/count` for the live count, which is not audited
because it shows no entity. Running the filter is audited like the API's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.acquisition import leads, service
from puhui.acquisition.filters import NUMERIC, KeySpec
from puhui.acquisition.schemas import (
    DEFAULT_SORT,
    MAX_CONDITIONS,
    FilterRequest,
    InvitationAccept,
    InvitationCreate,
    InvitationDecline,
    LeadExportRequest,
    MarketingUpdate,
    SavedFilterCreate,
    SavedFilterUpdate,
)
from puhui.core.errors import NotFound, PuhuiError
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    limited_download,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)
from puhui.entities.errors import EntityNotFound
from puhui.entities.service import DISTRICTS
from puhui.matching.schemas import Guarantee

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Find prospects"), "/acquisition", Action.ACQUISITION_FILTER, order=52)
register_nav(N_("Marketing"), "/me/marketing", Action.MARKETING_MANAGE, order=53)

OP_LABELS = {
    "between": N_("between"),
    "gt": N_("greater than"),
    "ge": N_("at least"),
    "lt": N_("less than"),
    "le": N_("at most"),
    "eq": N_("equal to"),
    "ne": N_("not equal to"),
    "in": N_("one of"),
    "is_true": N_("is yes"),
    "is_false": N_("is no"),
    "is_null": N_("has no value"),
    "not_null": N_("has a value"),
}
PER_PAGE = 20
_ROW = re.compile(r"^conditions\.(\d+)")
Rows = Annotated[list[str], Query(max_length=MAX_CONDITIONS)]


@dataclass
class Row:
    indicator: str = ""
    op: str = ""
    a: str = ""
    b: str = ""
    error: str = ""

    def condition(self, spec: KeySpec | None) -> dict[str, Any]:
        data: dict[str, Any] = {"indicator": self.indicator, "op": self.op}
        if self.op == "between":
            data.update(lo=self.a.strip(), hi=self.b.strip())
        elif self.op in ("gt", "ge", "lt", "le"):
            data["value"] = self.a.strip()
        elif self.op in ("eq", "ne"):
            numeric = spec is not None and spec.value_type in NUMERIC
            data["value"] = _number(self.a) if numeric else self.a.strip()
        elif self.op == "in":
            data["values"] = [v for v in re.split(r"[\s,，、]+", self.a) if v]
        return data


@dataclass
class Builder:
    rows: list[Row]
    match: str
    sort: str
    order: str
    page: int
    errors: list[str] = field(default_factory=list)

    def request(self, specs: dict[str, KeySpec]) -> tuple[FilterRequest | None, list[int]]:
        """The filter of the filled rows (None when a row is wrong: its error is set) and
        which form row each condition came from."""
        used = [i for i, r in enumerate(self.rows) if r.indicator]
        data = {
            "conditions": [self.rows[i].condition(specs.get(self.rows[i].indicator)) for i in used],
            "match": self.match,
            "sort": {"indicator": self.sort, "order": self.order},
            "limit": PER_PAGE,
            "offset": (self.page - 1) * PER_PAGE,
        }
        try:
            return FilterRequest.model_validate(data), used
        except ValidationError as exc:
            self.place(validation_details(exc.errors()), used)
            return None, used

    def place(self, details: list[dict[str, Any]], used: list[int]) -> None:
        for item in details:
            where = _ROW.match(str(item.get("field", "")))
            message = str(item.get("message", ""))
            if where and int(where.group(1)) < len(used):
                row = self.rows[used[int(where.group(1))]]
                row.error = row.error or message
            else:
                self.errors.append(message)


def _number(raw: str) -> float | str:
    try:
        return float(raw.strip())
    except ValueError:
        return raw.strip()


def _builder(
    ind: list[str],
    op: list[str],
    a: list[str],
    b: list[str],
    match: str,
    sort: str,
    order: str,
    page: int,
    add: str = "",
    remove: str = "",
) -> Builder:
    rows = [
        Row(indicator=i.strip(), op=o, a=x, b=y)
        for i, o, x, y in zip(
            ind, op + [""] * len(ind), a + [""] * len(ind), b + [""] * len(ind), strict=False
        )
    ]
    if remove.isdigit() and int(remove) < len(rows):
        del rows[int(remove)]
    if add or not rows:
        rows.append(Row())
    return Builder(
        rows=rows[:MAX_CONDITIONS],
        match="any" if match == "any" else "all",
        sort=sort or DEFAULT_SORT,
        order="asc" if order == "asc" else "desc",
        page=max(1, page),
    )


def _translated(request: Request, builder: Builder, exc: PuhuiError, used: list[int]) -> None:
    builder.place(
        [
            {
                "field": d.get("field", ""),
                "message": translate(request, d["message"], **d.get("params", {})),
            }
            for d in (exc.details if isinstance(exc.details, list) else [])
        ]
        or [{"field": "", "message": translate(request, exc.message, **exc.params)}],
        used,
    )


def _context(session: Session, builder: Builder) -> dict[str, Any]:
    specs = service.key_indicators(session)
    groups: dict[str, list[KeySpec]] = {}
    for spec in specs.values():
        groups.setdefault(spec.category, []).append(spec)
    return {
        "b": builder,
        "groups": groups,
        "specs": specs,
        "op_labels": OP_LABELS,
        "districts": DISTRICTS,
        "result": None,
        "count": None,
        "schedules": SCHEDULES,
    }


@router.get("/acquisition", response_class=HTMLResponse)
def filter_page(
    request: Request,
    ind: Rows = [],  # noqa: B006 - FastAPI reads repeated query fields into a list
    op: Rows = [],  # noqa: B006
    a: Rows = [],  # noqa: B006
    b: Rows = [],  # noqa: B006
    match: Annotated[str, Query(max_length=3)] = "all",
    sort: Annotated[str, Query(max_length=64)] = DEFAULT_SORT,
    order: Annotated[str, Query(max_length=4)] = "desc",
    page: Annotated[int, Query(ge=1, le=5000)] = 1,
    run: Annotated[str, Query(max_length=1)] = "",
    add: Annotated[str, Query(max_length=1)] = "",
    remove: Annotated[str, Query(max_length=3)] = "",
    actor: Actor = require(Action.ACQUISITION_FILTER),
    session: Session = Depends(db),
) -> HTMLResponse:
    builder = _builder(ind, op, a, b, match, sort, order, page, add, remove)
    ctx = _context(session, builder)
    wanted, used = builder.request(ctx["specs"])
    status = 200
    if wanted is not None:
        try:
            if run and not add and not remove:
                ctx["result"] = service.run_filter(session, actor=actor, request=wanted)
                ctx["count"] = ctx["result"].total
            else:
                ctx["count"] = service.count(session, actor=actor, request=wanted)
        except PuhuiError as exc:
            if exc.status != 422:
                raise
            _translated(request, builder, exc, used)
            status = 422
    else:
        status = 422
    ctx["pages"] = 0 if ctx["result"] is None else max(1, -(-ctx["result"].total // PER_PAGE))
    kept = [(k, v) for k, v in parse_qsl(request.url.query) if k not in ("page", "add", "remove")]
    ctx["query"] = urlencode(kept)
    return render(request, "acquisition/filter.html", ctx, status_code=status, actor=actor)


@router.get("/acquisition/count", response_class=HTMLResponse)
def live_count(
    request: Request,
    ind: Rows = [],  # noqa: B006
    op: Rows = [],  # noqa: B006
    a: Rows = [],  # noqa: B006
    b: Rows = [],  # noqa: B006
    match: Annotated[str, Query(max_length=3)] = "all",
    sort: Annotated[str, Query(max_length=64)] = DEFAULT_SORT,
    order: Annotated[str, Query(max_length=4)] = "desc",
    actor: Actor = require(Action.ACQUISITION_FILTER),
    session: Session = Depends(db),
) -> HTMLResponse:
    """The live count partial (HTMX): a number, or what is wrong with the conditions."""
    builder = _builder(ind, op, a, b, match, sort, order, 1)
    wanted, used = builder.request(service.key_indicators(session))
    count = None
    if wanted is not None:
        try:
            count = service.count(session, actor=actor, request=wanted)
        except PuhuiError as exc:
            if exc.status != 422:
                raise
            _translated(request, builder, exc, used)
    problems = [r.error for r in builder.rows if r.error] + builder.errors
    ctx = {"count": count, "problems": problems}
    return render(request, "acquisition/_count.html", ctx, actor=actor)


@router.get("/me/marketing", response_class=HTMLResponse)
def marketing_page(
    request: Request,
    actor: Actor = require(Action.MARKETING_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    try:
        pref = service.marketing_preference(session, actor=actor)
    except EntityNotFound:
        # registered on the platform before the departments' registry lists the entity
        code = actor.entity_uscc or ""
        return render(request, "profile/not_listed.html", {"uscc": code}, actor=actor)
    return render(request, "acquisition/marketing.html", {"pref": pref}, actor=actor)


@router.post("/me/marketing", response_class=HTMLResponse)
def marketing_submit(
    opted_out: Annotated[str, Form(max_length=1)] = "",
    actor: Actor = require(Action.MARKETING_MANAGE),
    session: Session = Depends(db),
) -> Response:
    service.set_marketing(session, actor=actor, data=MarketingUpdate(opted_out=opted_out == "1"))
    return redirect("/me/marketing")


# --- saved filters, lead lists and invitations ------------------------------------------------

register_nav(N_("Lead lists"), "/acquisition/saved", Action.LEADS_MANAGE, order=54)
register_nav(N_("Invitations sent"), "/acquisition/invitations", Action.LEADS_MANAGE, order=55)
register_nav(N_("Invitations"), "/me/invitations", Action.INVITATION_RESPOND, order=54)

SCHEDULES = {"none": N_("by hand"), "daily": N_("daily"), "weekly": N_("weekly")}
STATUS_LABELS = (
    N_("pending"),
    N_("accepted"),
    N_("declined"),
    N_("withdrawn"),
    N_("expired"),
    N_("manual"),
    N_("schedule"),
)
KIND_LABELS = {"demand": N_("to apply for a loan"), "authorization": N_("to authorize a query")}
LEADS_PER_PAGE = 20
Text = Annotated[str, Form(max_length=300)]


def _form_errors(request: Request, exc: Exception) -> dict[str, str]:
    """``{field: message}`` (the last part of a field path) plus the form's own message."""
    if isinstance(exc, ValidationError):
        details = validation_details(exc.errors())
        message = N_("This value is not valid.")
        params: dict[str, Any] = {}
    else:
        assert isinstance(exc, PuhuiError)
        details = exc.details if isinstance(exc.details, list) else []
        message, params = exc.message, exc.params
    errors = {
        str(d.get("field", "")).split(".")[-1] or "form": translate(
            request, d["message"], **d.get("params", {})
        )
        for d in details
        if isinstance(d, dict) and "message" in d
    }
    if not errors or (isinstance(exc, PuhuiError) and not details):
        errors["form"] = translate(request, message, **params)
    return errors


@router.post("/acquisition/saved", response_class=HTMLResponse)
def save_filter(
    request: Request,
    ind: Annotated[list[str], Form(max_length=MAX_CONDITIONS)] = [],  # noqa: B006
    op: Annotated[list[str], Form(max_length=MAX_CONDITIONS)] = [],  # noqa: B006
    a: Annotated[list[str], Form(max_length=MAX_CONDITIONS)] = [],  # noqa: B006
    b: Annotated[list[str], Form(max_length=MAX_CONDITIONS)] = [],  # noqa: B006
    match: Annotated[str, Form(max_length=3)] = "all",
    sort: Annotated[str, Form(max_length=64)] = DEFAULT_SORT,
    order: Annotated[str, Form(max_length=4)] = "desc",
    name: Annotated[str, Form(max_length=200)] = "",
    schedule: Annotated[str, Form(max_length=10)] = "none",
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    """Save the builder's conditions; a wrong row or name shows the builder again."""
    builder = _builder(ind, op, a, b, match, sort, order, 1)
    ctx = _context(session, builder)
    wanted, used = builder.request(ctx["specs"])
    ctx.update(pages=0, query="", save_name=name, save_schedule=schedule, save_errors={})
    if wanted is not None:
        definition = {
            "conditions": [c.model_dump(mode="json") for c in wanted.conditions],
            "match": wanted.match,
            "sort": wanted.sort.model_dump(),
        }
        try:
            data = SavedFilterCreate.model_validate(
                {"name": name, "filter": definition, "schedule": schedule}
            )
            saved = leads.create_saved(session, actor=actor, data=data)
            return redirect(f"/acquisition/saved/{saved.id}")
        except (ValidationError, PuhuiError) as exc:
            if isinstance(exc, PuhuiError) and exc.status != 422:
                raise
            session.rollback()
            if isinstance(exc, PuhuiError) and any(
                isinstance(d, dict) and str(d.get("field", "")).startswith("conditions")
                for d in exc.details or []
            ):
                _translated(request, builder, exc, used)
            else:
                ctx["save_errors"] = _form_errors(request, exc)
    return render(request, "acquisition/filter.html", ctx, status_code=422, actor=actor)


@router.get("/acquisition/saved", response_class=HTMLResponse)
def saved_list(
    request: Request,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    ctx = {"filters": leads.list_saved(session, actor=actor), "schedules": SCHEDULES}
    return render(request, "acquisition/saved_list.html", ctx, actor=actor)


def _saved_page(
    request: Request,
    session: Session,
    actor: Actor,
    filter_id: int,
    *,
    run_id: int | None = None,
    scope: str = "all",
    page: int = 1,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    saved = leads.get_saved(session, actor=actor, filter_id=filter_id)
    read = leads.saved_reads(session, [saved])[0]
    runs = leads.runs(session, actor=actor, filter_id=filter_id)
    chosen = next((r for r in runs if r.id == run_id), runs[0] if runs else None)
    scope = "new" if scope == "new" else "all"
    lead_page = None
    if chosen is not None:
        lead_page = leads.lead_page(
            session,
            actor=actor,
            run_id=chosen.id,
            scope=scope,  # type: ignore[arg-type]
            limit=LEADS_PER_PAGE,
            offset=(page - 1) * LEADS_PER_PAGE,
        )
    pages = 0 if lead_page is None else max(1, -(-lead_page.total // LEADS_PER_PAGE))
    ctx = {
        "f": read,
        "runs": runs,
        "run": chosen,
        "scope": scope,
        "leads": lead_page,
        "page": page,
        "pages": pages,
        "quota": leads.quota(session, actor=actor),
        "schedules": SCHEDULES,
        "kinds": KIND_LABELS,
        "specs": service.key_indicators(session),
        "districts": DISTRICTS,
        "mine": saved.owner_id == actor.user_id,
        "errors": errors or {},
    }
    return render(request, "acquisition/saved.html", ctx, status_code=status_code, actor=actor)


@router.get("/acquisition/saved/{filter_id}", response_class=HTMLResponse)
def saved_page(
    request: Request,
    filter_id: int,
    run: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    scope: Annotated[str, Query(max_length=3)] = "all",
    page: Annotated[int, Query(ge=1, le=50_000)] = 1,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _saved_page(request, session, actor, filter_id, run_id=run, scope=scope, page=page)


def _on_saved(
    request: Request,
    session: Session,
    actor: Actor,
    filter_id: int,
    change: Callable[[], object],
    done: str | None = None,
) -> Response:
    """One change from a saved filter's page: a refusal rolls back and shows the page with
    its message and status; an unknown filter stays a 404."""
    try:
        change()
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        errors = _form_errors(request, exc)
        return _saved_page(request, session, actor, filter_id, errors=errors, status_code=status)
    return redirect(done or f"/acquisition/saved/{filter_id}")


@router.post("/acquisition/saved/{filter_id}/run", response_class=HTMLResponse)
def saved_run(
    request: Request,
    filter_id: int,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    return _on_saved(
        request,
        session,
        actor,
        filter_id,
        lambda: leads.run_now(session, actor=actor, filter_id=filter_id),
    )


@router.post("/acquisition/saved/{filter_id}/edit", response_class=HTMLResponse)
def saved_edit(
    request: Request,
    filter_id: int,
    name: Annotated[str, Form(max_length=200)] = "",
    schedule: Annotated[str, Form(max_length=10)] = "none",
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    def change() -> object:
        data = SavedFilterUpdate.model_validate({"name": name, "schedule": schedule})
        return leads.update_saved(session, actor=actor, filter_id=filter_id, data=data)

    return _on_saved(request, session, actor, filter_id, change)


@router.post("/acquisition/saved/{filter_id}/archive", response_class=HTMLResponse)
def saved_archive(
    request: Request,
    filter_id: int,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    return _on_saved(
        request,
        session,
        actor,
        filter_id,
        lambda: leads.archive_saved(session, actor=actor, filter_id=filter_id),
        done="/acquisition/saved",
    )


@router.post("/acquisition/runs/{run_id}/export", response_class=HTMLResponse)
def run_export(
    request: Request,
    run_id: int,
    filter_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    format: Annotated[str, Form(max_length=4)] = "csv",
    scope: Annotated[str, Form(max_length=3)] = "all",
    limit: Annotated[str, Form(max_length=7)] = "",
    actor: Actor = require(Action.LEADS_MANAGE),
    _: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    try:
        data = LeadExportRequest.model_validate(
            {"format": format, "scope": scope, "limit": limit.strip() or None}
        )
        file = leads.export_leads(session, actor=actor, run_id=run_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        errors = _form_errors(request, exc)
        return _saved_page(
            request, session, actor, filter_id, run_id=run_id, errors=errors, status_code=status
        )
    return Response(
        content=file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@router.post("/acquisition/invite", response_class=HTMLResponse)
def invite_submit(
    request: Request,
    uscc: Annotated[str, Form(max_length=40)],
    kind: Annotated[str, Form(max_length=20)] = "demand",
    message: Text = "",
    filter_id: Annotated[str, Form(max_length=12)] = "",
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    saved_id = int(filter_id) if filter_id.isdigit() else None

    def change() -> object:
        data = InvitationCreate.model_validate(
            {"uscc": uscc, "kind": kind, "message": message, "saved_filter_id": saved_id}
        )
        return leads.invite(session, actor=actor, data=data)

    if saved_id is not None:
        return _on_saved(request, session, actor, saved_id, change, done="/acquisition/invitations")
    try:
        change()
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        return _sent_page(request, session, actor, None, 1, _form_errors(request, exc), status)
    return redirect("/acquisition/invitations")


def _sent_page(
    request: Request,
    session: Session,
    actor: Actor,
    status: str | None,
    page: int,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    listed = leads.institution_invitations(
        session, actor=actor, params=PageParams(page=page), status=status
    )
    ctx = {
        "page": listed,
        "status": status or "",
        "kinds": KIND_LABELS,
        "statuses": ("pending", "accepted", "declined", "withdrawn", "expired"),
        "errors": errors or {},
    }
    return render(
        request, "acquisition/invitations.html", ctx, status_code=status_code, actor=actor
    )


@router.get("/acquisition/invitations", response_class=HTMLResponse)
def sent_page(
    request: Request,
    status: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    known = (
        status if status in ("pending", "accepted", "declined", "withdrawn", "expired") else None
    )
    return _sent_page(request, session, actor, known, page)


@router.post("/acquisition/invitations/{invitation_id}/withdraw", response_class=HTMLResponse)
def withdraw_submit(
    request: Request,
    invitation_id: int,
    actor: Actor = require(Action.LEADS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    try:
        leads.withdraw(session, actor=actor, invitation_id=invitation_id)
    except PuhuiError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _sent_page(request, session, actor, None, 1, _form_errors(request, exc), exc.status)
    return redirect("/acquisition/invitations")


def _mine_page(
    request: Request,
    session: Session,
    actor: Actor,
    page: int,
    errors: dict[str, str] | None = None,
    failed: int | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        listed = leads.my_invitations(session, actor=actor, params=PageParams(page=page))
    except NotFound:
        code = actor.entity_uscc or ""
        return render(request, "profile/not_listed.html", {"uscc": code}, actor=actor)
    ctx = {
        "page": listed,
        "kinds": KIND_LABELS,
        "errors": errors or {},
        "failed": failed,
        "form": form or {},
        "guarantees": [g.value for g in Guarantee],
    }
    return render(
        request, "acquisition/my_invitations.html", ctx, status_code=status_code, actor=actor
    )


@router.get("/me/invitations", response_class=HTMLResponse)
def my_invitations_page(
    request: Request,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    actor: Actor = require(Action.INVITATION_RESPOND),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _mine_page(request, session, actor, page)


@router.post("/me/invitations/{invitation_id}/accept", response_class=HTMLResponse)
def accept_submit(
    request: Request,
    invitation_id: int,
    amount: Annotated[str, Form(max_length=20)] = "",
    term_months: Annotated[str, Form(max_length=4)] = "12",
    purpose: Text = "",
    guarantee_type: Annotated[str, Form(max_length=12)] = "credit",
    contact_name: Annotated[str, Form(max_length=50)] = "",
    contact_mobile: Annotated[str, Form(max_length=20)] = "",
    authorization_days: Annotated[str, Form(max_length=4)] = "90",
    actor: Actor = require(Action.INVITATION_RESPOND),
    session: Session = Depends(db),
) -> Response:
    form = {
        "amount": amount,
        "term_months": term_months,
        "purpose": purpose,
        "guarantee_type": guarantee_type,
        "contact_name": contact_name,
        "contact_mobile": contact_mobile,
        "authorization_days": authorization_days,
    }
    try:
        invitation = leads.get_invitation(session, actor=actor, invitation_id=invitation_id)
        body: dict[str, Any] = {"authorization_days": authorization_days.strip() or 90}
        if invitation.kind == "demand":
            body["demand"] = {
                "amount": amount.strip().replace(",", "") or None,
                "term_months": term_months.strip() or None,
                "purpose": purpose,
                "guarantee_type": guarantee_type,
                "contact_name": contact_name,
                "contact_mobile": contact_mobile.strip() or None,
            }
        data = InvitationAccept.model_validate(body)
        leads.accept(session, actor=actor, invitation_id=invitation_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        status = exc.status if isinstance(exc, PuhuiError) else 422
        return _mine_page(
            request, session, actor, 1, _form_errors(request, exc), invitation_id, form, status
        )
    return redirect("/me/invitations")


@router.post("/me/invitations/{invitation_id}/decline", response_class=HTMLResponse)
def decline_submit(
    request: Request,
    invitation_id: int,
    note: Text = "",
    actor: Actor = require(Action.INVITATION_RESPOND),
    session: Session = Depends(db),
) -> Response:
    try:
        leads.decline(
            session, actor=actor, invitation_id=invitation_id, data=InvitationDecline(note=note)
        )
    except PuhuiError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        errors = _form_errors(request, exc)
        return _mine_page(request, session, actor, 1, errors, invitation_id, None, exc.status)
    return redirect("/me/invitations")
