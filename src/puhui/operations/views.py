from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, redirect, register_nav, render, require
from puhui.operations import service

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Jobs"), "/ops/jobs", Action.JOBS_MANAGE, order=80)


@router.get("/ops/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    status: Annotated[Literal["", "pending", "running", "done", "dead"], Query()] = "dead",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.JOBS_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.list_jobs(session, status=status or None, params=params)
    counts = service.job_counts(session)
    return render(
        request,
        "operations/jobs.html",
        {"page": page, "counts": counts, "status": status},
        actor=actor,
    )


@router.post("/ops/jobs/{job_id}/retry")
def retry_job(
    job_id: int,
    actor: Actor = require(Action.JOBS_MANAGE, obj="job"),
    session: Session = Depends(db),
) -> Response:
    service.retry_job(session, actor=actor, job_id=job_id)
    return redirect("/ops/jobs?status=dead")
