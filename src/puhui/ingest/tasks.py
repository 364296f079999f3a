from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic, publish
from puhui.core.snapshot import SNAPSHOT_CHANGED
from puhui.ingest import service


@job_handler(service.REFRESH_JOB)
def refresh_snapshot(session: Session, payload: dict[str, Any]) -> None:
    """After a batch commits: refresh the snapshot rows it touched (idempotent)."""
    version = service.refresh_snapshot(session, lake_version=int(payload["lake_version"]))
    publish(session, SNAPSHOT_CHANGED, {"version": version}, dedupe_key=f"snapshot:{version}")


@job_handler(service.UPLOAD_JOB)
def ingest_upload(session: Session, payload: dict[str, Any]) -> None:
    """Run an uploaded file through the pipeline (idempotent: a file already committed for
    its source changes nothing, and a batch left half-done is finished)."""
    from pathlib import Path

    from sqlalchemy.orm import sessionmaker

    from puhui.core.policy import Actor, Role

    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    # the uploader, as they were when they uploaded: the batch's audit records name them
    actor = Actor(
        user_id=payload.get("user_id"),
        username=str(payload.get("username", "")),
        role=Role(str(payload.get("role", Role.DATA_STEWARD.value))),
        institution_id=payload.get("institution_id"),
        api_key_id=payload.get("api_key_id"),
    )
    path = Path(str(payload["path"]))
    if not path.exists():
        # a run that committed it removed the file; anything else lost it before its time
        if service.batch_of_upload(session, payload) is None:
            raise FileNotFoundError(f"the uploaded file {path.name} is gone")
        return
    service.ingest_path(
        factory,
        source_code=str(payload["source"]),
        path=path,
        actor=actor,
        via=str(payload.get("via", "web")),
        filename=str(payload.get("filename")),
    )
    service.remove_upload(path)


@job_handler(service.COMPACT_JOB)
def compact_lake(session: Session, payload: dict[str, Any]) -> None:
    """Nightly: re-sort the current year's lake files by entity so that one entity's
    history stays a few milliseconds away (ADR 0004)."""
    service.compact_lake(years=payload.get("years"))


periodic(service.COMPACT_JOB, every=timedelta(days=1))
