"""Pages: the filter builder (`/acquisition`) with its live count, and an enterprise's
marketing opt-out (`/me/marketing`).

The builder is one GET form (rows of indicator, op and value): it works without
JavaScript (submitting runs the filter; "add" and "remove" re-render the rows), and with
HTMX every change asks `/acquisition/count` for the live count, which is not audited
because it shows no entity. Running the filter is audited like the API's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.acquisition import service
from puhui.acquisition.filters import NUMERIC, KeySpec
from puhui.acquisition.schemas import (
    DEFAULT_SORT,
    MAX_CONDITIONS,
    FilterRequest,
    MarketingUpdate,
)
from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)
from puhui.entities.errors import EntityNotFound
from puhui.entities.service import DISTRICTS

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
