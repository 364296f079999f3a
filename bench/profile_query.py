"""The panorama profile at scale: p50/p99 of one entity's profile in-process (consent
check, lake history, lineage, masking, query record and audit written and committed) and
over HTTP (uvicorn on 127.0.0.1, bearer token, JSON), and seconds per PDF credit report.
Baseline measured in the same run: ``Lake.history`` of the same entities alone, the floor
the profile adds its checks and bookkeeping to.

PUHUI_BENCH_VAR names a data folder that already holds an ingested city (its
``puhui.db``, lake and snapshot, e.g. ``puhui demo`` or the ingest bench's folder with
PUHUI_DATABASE_URL pointing at its database); the bench adds a bank, a user and
authorizations to it. Without it a PUHUI_BENCH_ENTITIES-entity city (default 20 000) is
generated and ingested into a temporary folder first.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

N = int(os.environ.get("PUHUI_BENCH_ENTITIES", "20000"))
SAMPLES = int(os.environ.get("PUHUI_BENCH_SAMPLES", "300"))
PDFS = 20
PASSWORD = "Bench-pass-2026"  # noqa: S105 - a throwaway bench user


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_pct(values, 0.5) * 1000, 2),
        "p99_ms": round(_pct(values, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
    }


def _prepare(root: Path) -> Path:
    """A data folder with an ingested city (generated here when none is given)."""
    given = os.environ.get("PUHUI_BENCH_VAR")
    if given:
        return Path(given)
    var = root / "var"
    os.environ.update(PUHUI_DATA_DIR=str(var), PUHUI_DATABASE_URL=f"sqlite:///{root / 'b.db'}")
    from puhui.cli import initialise
    from puhui.config import get_settings
    from puhui.core.db import get_session_factory
    from puhui.core.jobs import Worker
    from puhui.demo import city_files
    from puhui.ingest import service
    from puhui.ingest.generator import generate_city

    get_settings.cache_clear()
    initialise(quiet=True)
    settings = get_settings()
    factory = get_session_factory(settings.effective_database_url)
    generate_city(root / "city", entities=N, seed=1)
    for source, path in city_files(root / "city"):
        service.ingest_path(
            factory, source_code=source, path=path, actor=None, via="cli", settings=settings
        )
    Worker(factory, worker_id="bench").run_until_idle()
    # what the nightly job keeps true: each year one run sorted by entity (ADR 0004)
    service.compact_lake(every_year=True, settings=settings)
    return var


def run() -> dict[str, Any]:  # noqa: PLR0915 - one linear script
    root = Path(tempfile.mkdtemp(prefix="puhui-bench-profile-"))
    os.environ.setdefault("PUHUI_ENV", "test")
    os.environ.setdefault("PUHUI_SECRET_KEY", "bench-secret-key-long-enough-0123456789abc")
    try:
        var = _prepare(root)
        os.environ["PUHUI_DATA_DIR"] = str(var)
        from sqlalchemy import select

        from puhui.accounts import service as accounts
        from puhui.accounts.schemas import InstitutionCreate, UserCreate
        from puhui.config import get_settings
        from puhui.consent.models import GRANTED, Consent
        from puhui.core.db import get_session_factory, session_scope
        from puhui.core.lake import Lake
        from puhui.core.policy import Actor, InstitutionKind, Role
        from puhui.entities.models import Entity
        from puhui.ingest import service as ingest
        from puhui.profile import pdf, service

        get_settings.cache_clear()
        settings = get_settings()
        factory = get_session_factory(settings.effective_database_url)
        stamp = datetime.now(UTC).strftime("%H%M%S")
        with session_scope(factory) as s:
            ingest.ensure_default_sources(s)
            bank = accounts.create_institution(
                s,
                actor=None,
                data=InstitutionCreate(name=f"基准测试银行{stamp}", kind=InstitutionKind.BANK),
            )
            user = accounts.create_user(
                s,
                actor=None,
                data=UserCreate(
                    username=f"bench_cm_{stamp}",
                    password=PASSWORD,
                    role=Role.CUSTOMER_MANAGER,
                    institution_id=bank.id,
                ),
            )
            total = s.scalar(select(Entity.id).order_by(Entity.id.desc()).limit(1)) or 0
            step = max(1, total // SAMPLES)
            picked = list(
                s.execute(
                    select(Entity.id, Entity.uscc).where(Entity.id % step == 0).limit(SAMPLES)
                )
            )
            now = datetime.now(UTC)
            for entity_id, _ in picked:
                s.add(
                    Consent(
                        entity_id=entity_id,
                        institution_id=bank.id,
                        purposes=["query"],
                        categories=[
                            "basic",
                            "property",
                            "financial",
                            "operating",
                            "positive",
                            "negative",
                            "credit_evaluation",
                        ],
                        starts_at=now - timedelta(days=1),
                        expires_at=now + timedelta(days=30),
                        status=GRANTED,
                    )
                )
            actor = Actor(
                user_id=user.id,
                username=user.username,
                role=Role.CUSTOMER_MANAGER,
                institution_id=bank.id,
                institution_kind=InstitutionKind.BANK,
            )
        usccs = [u for _, u in picked]
        ids = [i for i, _ in picked]

        # a serving process is warm: footers parsed (as many as the setting keeps), pages
        # cached; one untimed pass over the sample for the floor and the profile alike
        lake = Lake(
            settings.lake_dir, footer_cache_row_groups=settings.lake_footer_cache_row_groups
        )
        for entity_id in ids:
            lake.history(entity_id)
        for code in usccs:
            with session_scope(factory) as s:
                service.read_profile(s, actor, uscc=code, settings=settings)
        floor = []
        for entity_id in ids:
            t = time.perf_counter()
            lake.history(entity_id)
            floor.append(time.perf_counter() - t)

        in_process = []
        values = 0
        for code in usccs:
            t = time.perf_counter()
            with session_scope(factory) as s:
                reading = service.read_profile(s, actor, uscc=code, settings=settings)
            in_process.append(time.perf_counter() - t)
            values += sum(
                1 for b in reading.profile.categories for v in b.indicators if v.value is not None
            )

        import httpx
        import uvicorn

        from puhui.app import create_app

        app = create_app(settings, session_factory=factory, start_worker=False)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        over_http = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            token = client.post(
                "/api/v1/auth/token",
                data={"username": f"bench_cm_{stamp}", "password": PASSWORD},
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            client.get(f"/api/v1/entities/{usccs[0]}/profile", headers=headers)
            for code in usccs:
                t = time.perf_counter()
                r = client.get(f"/api/v1/entities/{code}/profile", headers=headers)
                over_http.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:200]
        server.should_exit = True
        thread.join(timeout=10)

        pdf_s = []
        for code in usccs[:PDFS]:
            t = time.perf_counter()
            with session_scope(factory) as s:
                report = service.credit_report(
                    s, actor, uscc=code, locale="zh_CN", settings=settings
                )
            pdf.render(report, lambda m: m)
            pdf_s.append(time.perf_counter() - t)

        result = {
            "benchmark": "profile_query",
            "entities": total,
            "samples": len(usccs),
            "values_per_profile": round(values / max(len(usccs), 1), 1),
            "lake_history_floor": _ms(floor),
            "profile_in_process": _ms(in_process),
            "profile_over_http": _ms(over_http),
            "in_process_p50_ratio_to_floor": round(
                _pct(in_process, 0.5) / max(_pct(floor, 0.5), 1e-9), 2
            ),
            "pdf_report_s": {
                "mean": round(statistics.fmean(pdf_s), 3),
                "max": round(max(pdf_s), 3),
            },
            "pdf_font": pdf.font_name(),
            "footer_cache_row_groups": settings.lake_footer_cache_row_groups,
        }
        _report(result)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _report(r: dict[str, Any]) -> None:
    print(
        f"profile of {r['samples']} entities out of {r['entities']} "
        f"({r['values_per_profile']} values each):"
    )
    for key in ("lake_history_floor", "profile_in_process", "profile_over_http"):
        f = r[key]
        print(f"  {key:22} p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms")
    print(f"  in-process p50 = {r['in_process_p50_ratio_to_floor']}x the lake-history floor")
    p = r["pdf_report_s"]
    print(f"  PDF credit report: mean {p['mean']} s, max {p['max']} s ({r['pdf_font']})")
