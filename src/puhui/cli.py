"""The ``puhui`` command line.

Every command validates its arguments before it writes anything; a bad argument prints a
clear message and exits with status 2, leaving the database as it was.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from puhui import __version__
from puhui.config import Settings

app = typer.Typer(
    name="puhui",
    help="Puhui (普惠) inclusive-finance credit information platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
admin_app = typer.Typer(help="Administration: institutions and users.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _settings() -> Settings:
    from puhui.config import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        raise fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from exc


def _setup_logging() -> None:
    from puhui.core.logging import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)


def _version(value: bool) -> None:
    if value:
        console.print(f"puhui {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Puhui command line."""


# --- init -----------------------------------------------------------------------------------


def initialise(*, quiet: bool = False) -> None:
    """Create the data folders and bring the database schema to the newest version."""
    from puhui import migrate, registry
    from puhui.core.db import get_engine

    settings = _settings()
    registry.load_all()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.lake_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(get_engine(settings.effective_database_url))
    from puhui.catalog import service as catalog
    from puhui.core.db import session_scope
    from puhui.ingest import service as ingest_service

    try:
        with session_scope() as session:
            loaded = catalog.load(session)
            ingest_service.ensure_default_sources(session)
    except Exception as exc:
        raise fail(_message(exc)) from exc
    if not quiet:
        console.print(f"database ready: {_display_url(settings.effective_database_url)}")
        state = "loaded" if loaded.changed else "up to date"
        console.print(f"indicator catalog version {loaded.version} {state}")
        console.print(f"data folder: {settings.data_dir.resolve()}")


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def init(
    operator_username: Annotated[
        str | None, typer.Option(help="Create the first operator with this username.")
    ] = None,
    operator_password: Annotated[
        str | None,
        typer.Option(help="Password of the first operator (default: generated and printed once)."),
    ] = None,
    platform_name: Annotated[
        str, typer.Option(help="Name of the platform institution.")
    ] = "普惠平台运营中心",
) -> None:
    """Create the data folder, migrate the database, create the first operator."""
    from puhui.accounts import service as accounts
    from puhui.accounts.schemas import InstitutionCreate, UserCreate
    from puhui.core.db import session_scope
    from puhui.core.policy import InstitutionKind, Role

    initialise()
    if operator_username is None:
        return
    password = operator_password or (secrets.token_urlsafe(12) + "A1!")
    try:
        with session_scope() as session:
            inst = accounts.get_institution_by_name(session, platform_name)
            if inst is None:
                inst = accounts.create_institution(
                    session,
                    actor=None,
                    data=InstitutionCreate(name=platform_name, kind=InstitutionKind.PLATFORM),
                )
            accounts.create_user(
                session,
                actor=None,
                data=UserCreate(
                    username=operator_username,
                    password=password,
                    role=Role.OPERATOR,
                    institution_id=inst.id,
                ),
            )
    except Exception as exc:
        raise fail(_message(exc)) from exc
    console.print(f"operator [bold]{operator_username}[/] created")
    if operator_password is None:
        console.print(f"password (shown once): [bold]{password}[/]")


def _message(exc: Exception) -> str:
    from puhui.core.errors import PuhuiError
    from puhui.core.i18n import gettext

    if isinstance(exc, PuhuiError):
        text = gettext("en", exc.message, **exc.params)
        if isinstance(exc.details, list):
            for d in exc.details:
                if isinstance(d, dict) and d.get("field"):
                    text += f" ({d['field']})"
                    break
        return text
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)


# --- serve / worker -----------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    worker: Annotated[
        bool | None,
        typer.Option("--worker/--no-worker", help="Run the job worker in this process."),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Server processes (more than one needs PostgreSQL; a CPU each)."
        ),
    ] = 1,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="Serve HTTPS with this certificate (PEM).")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The private key of --tls-cert (PEM).")
    ] = None,
    client_ca: Annotated[
        Path | None,
        typer.Option(
            "--client-ca",
            help="Ask clients for a certificate issued by this CA (e.g. DATA_DIR/keys/ca/ca.crt).",
        ),
    ] = None,
    require_client_cert: Annotated[
        bool,
        typer.Option(
            "--require-client-cert/--optional-client-cert",
            help="Refuse TLS connections without a client certificate (default: optional; "
            "keys bound to a certificate need it either way).",
        ),
    ] = False,
) -> None:
    """Serve the web UI and the API (and, on SQLite, the job worker)."""
    import uvicorn

    from puhui.app import create_app

    settings = _settings()
    tls = _tls_options(tls_cert, tls_key, client_ca, require_client_cert)
    if settings.trusted_proxies.strip() and "http" not in tls:
        from puhui.core.mtls_uvicorn import PROTOCOL

        # the client-certificate header is believed from the TCP peer, which uvicorn's
        # X-Forwarded-For handling would hide from the app: this protocol records it
        tls["http"] = PROTOCOL
    _setup_logging()
    initialise(quiet=True)
    common: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        **tls,
    }
    if processes > 1:
        if settings.is_sqlite:
            raise fail(
                "several server processes need PostgreSQL (SQLite has one writer): "
                "set PUHUI_DATABASE_URL, or serve with one process"
            )
        # each process builds its own app from the environment; jobs run in `puhui worker`
        # processes unless --worker asks every server process to run one too
        os.environ["PUHUI_IN_PROCESS_WORKER"] = "true" if worker else "false"
        uvicorn.run("puhui.app:create_app", factory=True, workers=processes, **common)
        return
    uvicorn.run(create_app(settings, start_worker=worker), **common)


def _tls_options(
    cert: Path | None, key: Path | None, client_ca: Path | None, require_client_cert: bool
) -> dict[str, Any]:
    """Uvicorn options for ``serve --tls-*`` (validated before anything starts)."""
    import ssl

    from puhui.core import mtls
    from puhui.core.mtls_uvicorn import PROTOCOL

    if cert is None and key is None:
        if client_ca is not None or require_client_cert:
            raise fail("--client-ca and --require-client-cert need --tls-cert and --tls-key")
        return {}
    if cert is None or key is None:
        raise fail("--tls-cert and --tls-key go together")
    for option, path in (("--tls-cert", cert), ("--tls-key", key), ("--client-ca", client_ca)):
        if path is not None and not path.is_file():
            raise fail(f"{option}: no such file {path}")
    if require_client_cert and client_ca is None:
        raise fail("--require-client-cert needs --client-ca")
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        if client_ca is not None:
            context.load_verify_locations(cafile=str(client_ca))
    except (ssl.SSLError, OSError) as exc:
        raise fail(f"TLS files do not load: {exc}") from exc
    options = mtls.server_ssl_options(
        cert=str(cert),
        key=str(key),
        client_ca=str(client_ca) if client_ca else None,
        require_client_cert=require_client_cert,
    )
    options["http"] = PROTOCOL
    return options


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="Run until no job is due, then exit.")] = False,
    scheduler: Annotated[bool, typer.Option(help="Also enqueue periodic jobs.")] = True,
) -> None:
    """Run the background job worker (several may run against PostgreSQL)."""
    from puhui import registry
    from puhui.core import jobs
    from puhui.core.db import get_session_factory

    settings = _settings()
    _setup_logging()
    registry.load_all()
    factory = get_session_factory(settings.effective_database_url)
    w = jobs.Worker(factory, lease_seconds=settings.job_lease_seconds)
    if once:
        jobs.enqueue_periodic_due(factory) if scheduler else None
        ran = w.run_until_idle()
        console.print(f"{ran} job(s) run")
        return
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sched = jobs.start_scheduler(factory) if scheduler else None
    try:
        w.run_forever(stop, settings.worker_poll_seconds)
    finally:
        if sched is not None:
            sched.shutdown(wait=False)


# --- demo ---------------------------------------------------------------------------------


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the platform afterwards.")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    entities: Annotated[
        int, typer.Option(min=0, max=5_000_000, help="Entities in the generated city (0: none).")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated city.")] = 2026,
) -> None:
    """Create demo institutions and users of every role, generate and load a demo city,
    print the log-ins, and serve."""
    import time

    from puhui import demo as demo_data
    from puhui.core.db import session_scope

    settings = _settings()
    if settings.env != "development":
        raise fail("the demo runs only with PUHUI_ENV=development (it uses well-known passwords)")
    initialise()
    with session_scope() as session:
        demo_data.create(session)
        demo_data.bind_demo_sources(session)
    if entities > 0:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from puhui.core.db import get_session_factory

        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("demo city", total=None)

            def say(what: str, done: int, total: int) -> None:
                bar.update(task, description=what[:60], completed=done, total=total)

            files, accepted = demo_data.load_city(
                get_session_factory(settings.effective_database_url),
                settings,
                entities=entities,
                seed=seed,
                say=say,
            )
        console.print(
            f"demo city: {entities} entities, {files} files, {accepted} values in the lake "
            f"({time.perf_counter() - started:.0f} s)"
        )
    with session_scope() as session:
        logins = demo_data.login_rows(session)
    table = Table(title="Demo log-ins (password for all: " + demo_data.DEMO_PASSWORD + ")")
    for column in ("username", "role", "institution / entity"):
        table.add_column(column)
    for row in logins:
        table.add_row(*row)
    console.print(table)
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(f"Open [bold]{url}[/] and log in with one of the accounts above.")
    if serve_after:
        serve(host=host, port=port, worker=True)


# --- ingest ---------------------------------------------------------------------------------


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Files as the department sent them.")],
    source: Annotated[str, typer.Option("--source", help="The data source code, e.g. TAX.")],
) -> None:
    """Validate and load department files: one batch and one lake commit per file."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from puhui.core.db import get_session_factory, session_scope
    from puhui.ingest import service as ingest_service

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}")
    settings = _settings()
    initialise(quiet=True)
    factory = get_session_factory(settings.effective_database_url)
    with session_scope(factory) as session:
        try:
            ingest_service.get_source(session, code=source)
        except Exception as exc:
            raise fail(f"{_message(exc)} ({source!r})") from exc
    failed = False
    for path in files:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{path.name}: starting", total=None)

            def step(
                what: str, done: float | None, task: TaskID = task, name: str = path.name
            ) -> None:
                bar.update(
                    task,
                    description=f"{name}: {what}",
                    total=None if done is None else 1.0,
                    completed=done or 0.0,
                )

            outcome = ingest_service.ingest_path(
                factory,
                source_code=source,
                path=path,
                actor=None,
                via="cli",
                settings=settings,
                progress=step,
            )
        with session_scope(factory) as session:
            batch = ingest_service.get_batch(session, batch_id=outcome.batch_id)
            summary = (
                batch.status,
                batch.rows_total,
                batch.rows_accepted,
                batch.rows_rejected,
                batch.rows_warned,
                batch.message,
                dict(batch.reasons or {}),
            )
        status, total, accepted, rejected, warned, message, reasons = summary
        if outcome.duplicate:
            console.print(
                f"{path.name}: already loaded as batch {outcome.batch_id}; nothing changed"
            )
        elif status == "rejected":
            failed = True
            err.print(f"[bold red]{path.name}: rejected[/] — {message}")
        else:
            console.print(
                f"{path.name}: batch {outcome.batch_id} committed — {total} rows, "
                f"{accepted} accepted, {rejected} rejected, {warned} warned"
            )
            for reason, n in reasons.items():
                console.print(f"    {reason}: {n}")
            if rejected or warned:
                console.print(
                    f"    report: {ingest_service.report_path(settings, outcome.batch_id)}"
                )
    if failed:
        raise typer.Exit(1)


# --- generate -------------------------------------------------------------------------------

generate_app = typer.Typer(
    help="Synthetic data for demos, tests and benchmarks.", no_args_is_help=True
)
app.add_typer(generate_app, name="generate")


@generate_app.command("city")
def generate_city_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the department files to.")],
    entities: Annotated[
        int, typer.Option(min=1, max=5_000_000, help="Entities in the city.")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same bytes.")] = 2026,
    months: Annotated[
        int, typer.Option(min=1, max=120, help="Months of history of the time series.")
    ] = 24,
    end_period: Annotated[
        str, typer.Option("--end-period", help="Last month of the history (YYYY-MM).")
    ] = "2026-10",
    dirt: Annotated[
        bool, typer.Option("--dirt/--no-dirt", help="Plant the deliberate dirt.")
    ] = True,
) -> None:
    """Write what each department of a synthetic city would send (one set of files per
    source, with a manifest of the planted dirt)."""
    import re
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from puhui.ingest.generator import generate_city

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", end_period):
        raise fail(f"--end-period must be a month as YYYY-MM, not {end_period!r}")
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise fail(f"--out {out} holds other files; choose an empty or new folder")
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("generating", total=entities)

        def say(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total)

        manifest = generate_city(
            out,
            entities=entities,
            seed=seed,
            months=months,
            end_period=end_period,
            dirt=dirt,
            progress=say,
        )
    console.print(
        f"city of {entities} entities (seed {seed}) written to {out} in "
        f"{time.perf_counter() - started:.0f} s: {len(manifest.files)} files, "
        f"{manifest.observations} observations"
    )


# --- snapshot -------------------------------------------------------------------------------

snapshot_app = typer.Typer(help="The latest-value snapshot.", no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")


@snapshot_app.command("rebuild")
def snapshot_rebuild() -> None:
    """Rebuild the whole snapshot from the lake."""
    import time

    from puhui.core.db import session_scope
    from puhui.ingest import service as ingest_service

    settings = _settings()
    initialise(quiet=True)
    started = time.perf_counter()
    with console.status("rebuilding the snapshot from the lake"), session_scope() as session:
        snapshot = ingest_service.rebuild_snapshot(session, settings=settings)
    view = snapshot.current()
    memory = snapshot.memory_bytes()["total"]
    console.print(
        f"snapshot version {view.version}: {view.n_entities} entities, "
        f"{len(view.indicators)} indicators, {memory / 2**20:.1f} MiB mapped, "
        f"built in {time.perf_counter() - started:.1f} s"
    )


lake_app = typer.Typer(help="The indicator lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")


@lake_app.command("compact")
def lake_compact(
    year: Annotated[
        list[int] | None,
        typer.Option(
            "--year",
            min=1900,
            max=2999,
            help="A year to compact (repeatable); default: every year.",
        ),
    ] = None,
) -> None:
    """Sort each year of the lake by entity, so one entity's history is a few row groups
    (the nightly job does the current year). Years already sorted are skipped."""
    import time

    from puhui.ingest import service as ingest_service

    settings = _settings()
    started = time.perf_counter()
    with console.status("compacting the lake"):
        report = ingest_service.compact_lake(
            years=year or None, every_year=not year, settings=settings
        )
    for y, m in sorted(report.items()):
        console.print(
            f"{y}: {int(m['files_removed'])} files into {int(m['files_added'])} "
            f"in {m['seconds']:.1f} s"
        )
    console.print(
        f"{len(report)} year(s) compacted in {time.perf_counter() - started:.1f} s"
        if report
        else "every year is already sorted by entity"
    )


@lake_app.command("vacuum")
def lake_vacuum(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the files; delete nothing.")
    ] = False,
) -> None:
    """Delete the lake's files that no version within the retention window needs (replaced
    by a compaction or a re-encryption, or left by a write that died before its commit)."""
    from puhui.core.lake import Lake, LakeNotFound

    settings = _settings()
    try:
        lake = Lake(settings.lake_dir, create=False)
    except LakeNotFound as exc:
        raise fail(str(exc)) from exc
    files = lake.vacuum(dry_run=dry_run)
    for name in files:
        console.print(f"  {name}")
    console.print(f"{len(files)} file(s) {'to delete' if dry_run else 'deleted'}")


@lake_app.command("index")
def lake_index() -> None:
    """Build the history index: every row sorted by entity in one file beside the lake, so
    a profile's history and a snapshot rebuild read it instead of ~40 yearly files
    (a compaction rebuilds it by itself)."""
    from puhui.ingest import service as ingest_service

    settings = _settings()
    with console.status("building the history index"):
        report = ingest_service.build_history_index(settings=settings)
    console.print(
        f"history index of lake version {int(report['version'])}: {int(report['rows'])} rows "
        f"in {int(report['batches'])} batches, {report['seconds']:.1f} s"
    )


# --- audit ----------------------------------------------------------------------------------

audit_app = typer.Typer(help="The tamper-evident audit chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _print_report(report: Any, source: str) -> None:
    from rich.markup import escape

    for problem in report.problems:
        console.print(f"[bold red]✗[/] {escape(str(problem))}", highlight=False)
    if report.more_problems:
        console.print(f"… and {report.more_problems} more problems")
    if report.ok:
        console.print(
            f"[bold green]✓[/] {source}: {report.records} records and {report.checkpoints} "
            f"signed checkpoints verified; head seq {report.head_seq} {report.head_hash}"
        )
    else:
        console.print(
            f"[bold red]{source}: the audit chain does not verify "
            f"({len(report.problems) + report.more_problems} problems)[/]"
        )


@audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="An export (JSON Lines) to check; without it, the chain in the database."
        ),
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A trusted SM2 public key (PEM), repeatable; only these (and, for the "
            "database, the platform's key file) are trusted. Default: for a file, the keys "
            "its header lists; for the database, the signing keys it lists.",
        ),
    ] = None,
) -> None:
    """Recompute the audit chain and its signatures; exit 1 on any problem found."""
    from puhui.audit import service as audit_service
    from puhui.core.security import Sm2PublicKey, SmCryptoError

    keys: dict[str, Sm2PublicKey] = {}
    for path in public_key or []:
        try:
            key = Sm2PublicKey.from_pem(path.read_bytes())
        except (OSError, SmCryptoError) as exc:
            raise fail(f"--public-key {path}: {exc}") from exc
        keys[key.fingerprint()] = key
    if file is not None:
        if not file.is_file():
            raise fail(f"no such file: {file}")
        try:
            report = audit_service.verify_file(file, keys=keys or None)
        except UnicodeDecodeError as exc:
            raise fail(f"{file} is not UTF-8 text: {exc}") from exc
        if report.keys_from_file:
            console.print(
                "[yellow]signatures checked with the keys listed in the file itself; compare "
                "their key ids with GET /api/v1/audit/public-key, or pass --public-key[/]"
            )
        _print_report(report, str(file))
    else:
        from puhui import registry
        from puhui.core.db import get_session_factory

        settings = _settings()
        registry.load_all()
        platform = None
        if settings.signing_key_path.exists():
            try:
                platform = audit_service.platform_key(settings)
            except SmCryptoError as exc:
                raise fail(str(exc)) from exc
        try:
            report = audit_service.verify_database(
                get_session_factory(), key=platform, trusted=keys or None
            )
        except Exception as exc:
            raise fail(_message(exc)) from exc
        if not keys:
            console.print(
                "[yellow]signatures checked with the signing keys the database lists and the "
                "platform key file; pass --public-key to trust only keys you hold[/]"
            )
        _print_report(report, "database")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain head now with the platform's SM2 key."""
    from puhui.audit import service as audit_service
    from puhui.core.db import session_scope

    settings = _settings()
    initialise(quiet=True)
    try:
        with session_scope() as session:
            audit_service.record(session, actor=None, action="audit.checkpoint", username="cli")
            made = audit_service.checkpoint(session, key=audit_service.platform_key(settings))
            seq, head_hash, key_id = made.seq, made.head_hash, made.key_id
    except Exception as exc:
        raise fail(_message(exc)) from exc
    console.print(f"checkpoint at seq {seq} ({head_hash}) signed by key {key_id}")


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON Lines).")],
) -> None:
    """Write the whole chain with its checkpoints and a signed end line."""
    from puhui.audit import chain
    from puhui.audit import service as audit_service
    from puhui.core.db import get_session_factory, session_scope

    settings = _settings()
    initialise(quiet=True)
    try:
        with session_scope() as session:
            audit_service.record(session, actor=None, action="audit.export", username="cli")
        key = audit_service.platform_key(settings)
        lines = 0
        with out.open("w", encoding="utf-8") as sink:
            for line in audit_service.export_lines(get_session_factory(), key=key):
                sink.write(chain.dumps_line(line))
                lines += 1
    except OSError as exc:
        raise fail(f"{out}: {exc}") from exc
    console.print(f"{lines} lines written to {out}")


# --- download ---------------------------------------------------------------------------------

download_app = typer.Typer(
    help="Batch download packages: verify the platform's signature, decrypt.",
    no_args_is_help=True,
)
app.add_typer(download_app, name="download")


def _download_keys(public_key: list[Path] | None) -> list[Any]:
    from puhui.core.security import Sm2PublicKey, SmCryptoError
    from puhui.core.security.platform_key import load_signing_key

    keys = []
    for path in public_key or []:
        try:
            keys.append(Sm2PublicKey.from_pem(path.read_bytes()))
        except (OSError, SmCryptoError) as exc:
            raise fail(f"--public-key {path}: {exc}") from exc
    if not keys:
        path = _settings().signing_key_path
        if not path.exists():
            raise fail(
                f"no platform key at {path}: pass --public-key with the key of "
                "GET /api/v1/audit/public-key"
            )
        try:
            keys.append(load_signing_key(path, create=False).public_key())
        except SmCryptoError as exc:
            raise fail(str(exc)) from exc
    return keys


def _read_package(path: Path) -> bytes:
    from puhui.monitoring.package import MAX_PACKAGE_BYTES

    if not path.is_file():
        raise fail(f"no such file: {path}")
    if path.stat().st_size > MAX_PACKAGE_BYTES:
        raise fail(f"{path}: too large for a download package")
    return path.read_bytes()


_PUBLIC_KEY_OPTION = typer.Option(
    "--public-key",
    help="A trusted SM2 public key (PEM), repeatable. Default: the platform's own key "
    "(PUHUI_SIGNING_KEY_FILE).",
)


@download_app.command("verify")
def download_verify(
    package: Annotated[Path, typer.Argument(help="The package (.zip) to check.")],
    public_key: Annotated[list[Path] | None, _PUBLIC_KEY_OPTION] = None,
) -> None:
    """Check the platform's SM2 signature and the payload digests; exit 1 if they fail."""
    from puhui.monitoring import package as pkg

    keys = _download_keys(public_key)
    try:
        manifest = pkg.verify(_read_package(package), keys)
    except pkg.PackageInvalid as exc:
        raise fail(f"{package}: does not verify: {exc}", code=1) from exc
    console.print(
        f"[bold green]✓[/] {package}: signed by {manifest['signer_fingerprint'][:16]}…; "
        f"download {manifest['id']} of {manifest['created_at']} by {manifest['requester']}: "
        f"{manifest['entity_count']} entities, {manifest['row_count']} rows, "
        f"{manifest['format']}",
        highlight=False,
    )


@download_app.command("open")
def download_open(
    package: Annotated[Path, typer.Argument(help="The package (.zip) to open.")],
    key: Annotated[str, typer.Option("--key", help="The content key (32 hex digits).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the data into.")],
    public_key: Annotated[list[Path] | None, _PUBLIC_KEY_OPTION] = None,
) -> None:
    """Verify, decrypt, and write the data file and its manifest into ``--out``."""
    from puhui.monitoring import package as pkg

    try:
        content_key = bytes.fromhex(key.strip())
    except ValueError as exc:
        raise fail("--key: not hexadecimal") from exc
    keys = _download_keys(public_key)
    try:
        opened = pkg.open_package(_read_package(package), content_key, keys)
    except pkg.PackageInvalid as exc:
        raise fail(f"{package}: cannot be opened: {exc}", code=1) from exc
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / opened.data_name).write_bytes(opened.data)
        (out / pkg.MANIFEST).write_text(
            json.dumps(opened.inner, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    except OSError as exc:
        raise fail(f"{out}: {exc}") from exc
    console.print(
        f"[bold green]✓[/] verified and decrypted: {out / opened.data_name} "
        f"({opened.inner['row_count']} rows) and {out / pkg.MANIFEST}",
        highlight=False,
    )


# --- database roles -------------------------------------------------------------------------

db_app = typer.Typer(help="The database: roles.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("app-role")
def db_app_role(
    role: Annotated[str, typer.Argument(help="The login role the platform will run as.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="PUHUI_APP_ROLE_PASSWORD",
            help="Its password (better from PUHUI_APP_ROLE_PASSWORD); none: keep as is.",
        ),
    ] = None,
) -> None:
    """PostgreSQL: create the role the platform runs as and grant it what it needs, never
    UPDATE, DELETE or TRUNCATE on the audit chain. Run as the owner who migrates (puhui
    init); then run the platform with PUHUI_DATABASE_URL naming this role."""
    from puhui.core.db import get_engine, grant_app_role

    settings = _settings()
    initialise(quiet=True)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise fail("ROLE: lower-case letters, digits and _ (at most 63), not starting with a digit")
    try:
        done = grant_app_role(get_engine(settings.effective_database_url), role, password=password)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    for statement in done:
        console.print(f"  {statement}")
    console.print(
        f"role {role} ready: it reads and writes the platform's tables and only appends to "
        "the audit chain"
    )


# --- keys -----------------------------------------------------------------------------------

keys_app = typer.Typer(help="Keys of the encrypted fields.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate(
    reencrypt_only: Annotated[
        bool,
        typer.Option(
            "--reencrypt-only",
            help="Keep the active data key; only re-encrypt values still under older keys.",
        ),
    ] = False,
) -> None:
    """Make a new data key active and re-encrypt every encrypted field with it: the
    database's columns, the personal text values of the lake (only the years that hold
    values under older keys are rewritten, one commit per year), the kept ID photos and the
    objection attachments (those attached before encryption are encrypted now)."""
    from puhui.audit import service as audit_service
    from puhui.core.db import get_session_factory, session_scope
    from puhui.core.lake import LakeConflict
    from puhui.core.security import fields
    from puhui.ingest import service as ingest_service
    from puhui.models import Base
    from puhui.objections import service as objections_service
    from puhui.verification import service as verification_service

    settings = _settings()
    initialise(quiet=True)
    try:
        keyring = fields.current() if reencrypt_only else fields.add_data_key()
        counts = fields.reencrypt(get_session_factory(), Base.metadata)
        with console.status("re-encrypting the lake's personal values"):
            lake = ingest_service.reseal_lake(get_session_factory(), settings=settings)
        with session_scope() as session:
            photos = verification_service.reseal_documents(session, settings=settings)
            attachments = objections_service.reseal_attachments(session, settings=settings)
        with session_scope() as session:
            audit_service.record(
                session,
                actor=None,
                action="keys.rotate",
                username="cli",
                details={
                    "active": keyring.active,
                    "reencrypted": counts,
                    "lake": {str(y): n for y, n in sorted(lake.items())},
                    "identity_photos": photos,
                    "objection_attachments": attachments,
                },
            )
    except fields.FieldCryptoError as exc:
        raise fail(str(exc)) from exc
    except LakeConflict as exc:
        raise fail(f"{exc} (the database's columns are done; rotate --reencrypt-only)") from exc
    console.print(f"active data key: {keyring.active}")
    for name, n in counts.items():
        console.print(f"  {name}: {n} values re-encrypted")
    for year, n in sorted(lake.items()):
        console.print(f"  lake {year}: {n} values re-encrypted")
    console.print(f"  identity photos: {photos} files re-encrypted")
    console.print(f"  objection attachments: {attachments} files re-encrypted")
    if lake:
        console.print(
            "the lake's replaced files stay readable for time travel until "
            "'puhui lake vacuum' removes them after the retention window"
        )


@keys_app.command("rewrap")
def keys_rewrap(
    new_master_key: Annotated[
        str,
        typer.Option(
            envvar="PUHUI_NEW_MASTER_KEY",
            help="The new master key, 32 hex digits (better from PUHUI_NEW_MASTER_KEY).",
        ),
    ],
) -> None:
    """Wrap the keyring under a new master key; then set PUHUI_MASTER_KEY to it."""
    from puhui.core.security import fields

    _settings()
    try:
        new = bytes.fromhex(new_master_key)
    except ValueError as exc:
        raise fail("--new-master-key: 32 hex digits") from exc
    try:
        keyring = fields.rewrap(new)
    except fields.FieldCryptoError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"{keyring.path}: {len(keyring.data_keys)} data keys wrapped under the new master key; "
        "set PUHUI_MASTER_KEY to it before the next start"
    )


# --- admin ----------------------------------------------------------------------------------


@admin_app.command("create-institution")
def create_institution(
    name: Annotated[str, typer.Option(help="Institution name.")],
    kind: Annotated[
        str,
        typer.Option(
            help="bank, insurer, guarantor, microlender, data_source, platform, regulator."
        ),
    ],
    code: Annotated[str | None, typer.Option(help="Optional institution code.")] = None,
) -> None:
    """Create an institution."""
    from puhui.accounts import service as accounts
    from puhui.accounts.schemas import InstitutionCreate
    from puhui.core.db import session_scope
    from puhui.core.policy import InstitutionKind

    if kind not in {k.value for k in InstitutionKind}:
        raise fail(
            f"unknown institution kind {kind!r}; "
            f"choose one of: {', '.join(k.value for k in InstitutionKind)}"
        )
    initialise(quiet=True)
    try:
        data = InstitutionCreate(name=name, kind=InstitutionKind(kind), code=code)
        with session_scope() as session:
            inst = accounts.create_institution(session, actor=None, data=data)
            inst_id = inst.id
    except Exception as exc:
        raise fail(_message(exc)) from exc
    console.print(f"institution {inst_id} [bold]{name}[/] ({kind}) created")


@admin_app.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="Log-in name.")],
    password: Annotated[str, typer.Option(help="Initial password.")],
    role: Annotated[str, typer.Option(help="One of the roles of the platform.")],
    institution: Annotated[
        str | None, typer.Option(help="Institution name (not for enterprise users).")
    ] = None,
    uscc: Annotated[
        str | None, typer.Option(help="The entity an enterprise user is bound to.")
    ] = None,
    mobile: Annotated[str | None, typer.Option(help="Mobile number.")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the UI.")] = "",
) -> None:
    """Create a user."""
    from puhui.accounts import service as accounts
    from puhui.accounts.schemas import UserCreate
    from puhui.core.db import session_scope
    from puhui.core.policy import Role

    if role not in {r.value for r in Role}:
        raise fail(f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}")
    initialise(quiet=True)
    try:
        with session_scope() as session:
            inst_id = None
            if institution is not None:
                inst = accounts.get_institution_by_name(session, institution)
                if inst is None:
                    raise fail(f"no institution named {institution!r}")
                inst_id = inst.id
            data = UserCreate(
                username=username,
                password=password,
                role=Role(role),
                institution_id=inst_id,
                entity_uscc=uscc,
                mobile=mobile,
                display_name=display_name,
            )
            user = accounts.create_user(session, actor=None, data=data)
            user_id = user.id
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(_message(exc)) from exc
    console.print(f"user {user_id} [bold]{username}[/] ({role}) created")


# --- private set intersection ------------------------------------------------------------------


@app.command("psi")
def psi_command(
    usccs: Annotated[
        Path, typer.Option("--list", help="The bank's USCCs, one a line (never sent in clear).")
    ],
    server: Annotated[
        str, typer.Option(envvar="PUHUI_PSI_SERVER", help="Base URL of the platform.")
    ],
    api_key: Annotated[
        str, typer.Option(envvar="PUHUI_PSI_API_KEY", help="The institution's API key.")
    ],
    filter_file: Annotated[
        Path | None,
        typer.Option(
            "--filter",
            help='JSON filter as /api/v1/acquisition/filter takes it: {"conditions": [...], '
            '"match": "all"} (none: every entity that can be found).',
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="count (how many match) or which (the matching USCCs).")
    ] = "count",
    out: Annotated[
        Path | None, typer.Option(help="Write the matching USCCs here (which mode).")
    ] = None,
) -> None:
    """Private set intersection: how many (or which) of the bank's USCCs are in a filtered
    set, without sending the list in clear."""
    import json

    import httpx

    from puhui.psi.client import PsiClient, PsiClientError

    if mode not in ("count", "which"):
        raise fail(f"unknown mode {mode!r}; choose count or which")
    if out is not None and mode != "which":
        raise fail("--out needs --mode which")
    try:
        lines = usccs.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise fail(f"cannot read {usccs}: {exc.strerror}") from exc
    body: dict[str, Any] = {}
    if filter_file is not None:
        try:
            body = json.loads(filter_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise fail(f"cannot read {filter_file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise fail(f"{filter_file} is not JSON: {exc}") from exc
        if not isinstance(body, dict) or set(body) - {"conditions", "match"}:
            raise fail(f'{filter_file} must be an object with "conditions" and "match" only')
    try:
        with PsiClient(server.rstrip("/"), api_key=api_key) as client:
            result = client.intersect(
                lines,
                conditions=body.get("conditions", []),
                match=body.get("match", "all"),
                mode="which" if mode == "which" else "count",
            )
    except PsiClientError as exc:
        where = f" (HTTP {exc.status}, {exc.code})" if exc.status else ""
        raise fail(f"{exc}{where}", code=1 if exc.status else 2) from exc
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {server}: {exc}", code=1) from exc
    console.print(
        f"{result.count} of {result.items} USCCs are in the filtered set "
        f"({result.server_items} entities; session {result.session_id})"
    )
    if result.matches is not None:
        if out is not None:
            out.write_text("".join(f"{c}\n" for c in result.matches), encoding="utf-8")
            console.print(f"matching USCCs written to {out}")
        else:
            for code in result.matches:
                console.print(code)


def main() -> None:
    if os.environ.get("PUHUI_LOG_FORMAT") is None and sys.stderr.isatty():
        os.environ["PUHUI_LOG_FORMAT"] = "console"
    logging.captureWarnings(True)
    app()


if __name__ == "__main__":
    main()


# --- ca -------------------------------------------------------------------------------------

ca_app = typer.Typer(
    help="The platform CA: client certificates for institutions' API keys (mTLS).",
    no_args_is_help=True,
)
app.add_typer(ca_app, name="ca")


@ca_app.command("init")
def ca_init(
    common_name: Annotated[
        str, typer.Option("--common-name", help="Common name of the CA certificate.")
    ] = "Puhui platform client CA",
    days: Annotated[
        int, typer.Option(min=30, max=7300, help="Validity of the CA certificate in days.")
    ] = 3650,
) -> None:
    """Create the CA key (encrypted at rest) and its self-signed certificate."""
    from puhui.audit import service as audit_service
    from puhui.core.db import session_scope
    from puhui.core.security import ca, fields

    settings = _settings()
    if not common_name.strip() or len(common_name) > 64:
        raise fail("--common-name: 1 to 64 characters")
    paths = ca.CaPaths(settings.ca_dir)
    if paths.exists():
        raise fail(f"a CA already exists in {paths.directory}; it is never overwritten")
    initialise(quiet=True)
    try:
        authority = ca.init(paths, common_name=common_name.strip(), days=days)
    except (ca.CaError, fields.FieldCryptoError, OSError) as exc:
        raise fail(str(exc)) from exc
    with session_scope() as session:
        audit_service.record(
            session,
            actor=None,
            username="cli",
            action="ca.init",
            details={"fingerprint": ca.fingerprint(authority.cert), "days": days},
        )
    console.print(f"CA certificate: {paths.cert}")
    console.print(f"SHA-256 fingerprint: {ca.fingerprint(authority.cert)}", soft_wrap=True)


@ca_app.command("issue")
def ca_issue(
    institution: Annotated[
        str, typer.Option("--institution", help="The institution's code (or its name).")
    ],
    csr: Annotated[
        Path | None,
        typer.Option(
            "--csr", help="The institution's certificate signing request (PEM or DER, P-256)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the certificate (and, without --csr, a generated private key).",
        ),
    ] = None,
    days: Annotated[
        int, typer.Option(min=1, max=825, help="Validity of the certificate in days.")
    ] = 365,
) -> None:
    """Issue a client certificate for an institution: sign its CSR (its private key never
    leaves it) or, without --csr, generate a key pair into --out."""
    from puhui.accounts import certificates
    from puhui.core.db import session_scope
    from puhui.core.security import ca

    settings = _settings()
    csr_data = _read_csr(csr) if csr is not None else None
    if csr is None and out is None:
        raise fail("give --csr FILE (preferred: the key stays with the institution) or --out DIR")
    if out is not None and out.exists() and not out.is_dir():
        raise fail(f"--out: {out} is not a folder")
    try:
        authority = ca.load(ca.CaPaths(settings.ca_dir))
    except ca.CaError as exc:
        raise fail(str(exc)) from exc
    initialise(quiet=True)
    written: list[Path] = []
    try:
        with session_scope() as session:
            inst = certificates.institution_for_cli(session, institution.strip())
            issued = certificates.issue(
                session, authority=authority, institution=inst, csr_data=csr_data, days=days
            )
            serial, fingerprint = issued.record.serial, issued.record.fingerprint
            if out is not None:
                stem = f"{inst.code or f'institution-{inst.id}'}-{serial[:16]}"
                files = {f"{stem}.crt": issued.pem.encode("ascii")}
                if issued.private_key_pem is not None:
                    files[f"{stem}.key"] = issued.private_key_pem
                files["ca.crt"] = settings.ca_dir.joinpath("ca.crt").read_bytes()
                _write_new_files(out, files, written)
    except FileExistsError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise fail(f"--out: {exc.filename} exists; nothing was issued") from exc
    except Exception as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise fail(_message(exc)) from exc
    if out is None:
        sys.stdout.write(issued.pem)
        err.print(f"serial {serial}, SHA-256 fingerprint {fingerprint}")
        return
    console.print(f"certificate serial [bold]{serial}[/]")
    console.print(f"SHA-256 fingerprint: {fingerprint}", soft_wrap=True)
    for path in written:
        console.print(f"  wrote {path}")


def _read_csr(csr: Path) -> bytes:
    from puhui.core.security import ca

    if not csr.is_file():
        raise fail(f"--csr: no such file {csr}")
    if csr.stat().st_size > 64 * 1024:
        raise fail(f"--csr: {csr} is larger than 64 KiB; not a CSR")
    data = csr.read_bytes()
    try:
        ca.check_csr(data)
    except ca.CaError as exc:
        raise fail(f"--csr: {exc}") from exc
    return data


def _write_new_files(out: Path, files: dict[str, bytes], written: list[Path]) -> None:
    """Write owner-only files that must not exist yet (``ca.crt`` is kept when it does)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = out / name
        if name == "ca.crt" and path.exists():
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        written.append(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


@ca_app.command("list")
def ca_list(
    institution: Annotated[
        str | None, typer.Option("--institution", help="Only this institution (code or name).")
    ] = None,
) -> None:
    """The client certificates the CA issued, newest first."""
    from puhui.accounts import certificates
    from puhui.core.db import session_scope
    from puhui.core.orm import utcnow

    _settings()
    initialise(quiet=True)
    try:
        with session_scope() as session:
            inst_id = (
                certificates.institution_for_cli(session, institution.strip()).id
                if institution
                else None
            )
            rows = certificates.list_all(session, institution_id=inst_id)
            now = utcnow()
            table = Table("serial", "institution", "subject", "not after", "status", "sha-256")
            for c in rows:
                table.add_row(
                    c.serial,
                    str(c.institution_id),
                    c.subject,
                    c.not_after.strftime("%Y-%m-%d"),
                    c.status(now),
                    c.fingerprint,
                )
    except Exception as exc:
        raise fail(_message(exc)) from exc
    console.print(table)


@ca_app.command("revoke")
def ca_revoke(
    serial: Annotated[str, typer.Argument(help="Serial of the certificate (hex).")],
) -> None:
    """Revoke a client certificate: API keys bound to it stop working at once."""
    import re

    from puhui.accounts import certificates
    from puhui.core.db import session_scope

    _settings()
    if not re.fullmatch(r"[0-9A-Fa-f:]{1,60}", serial.strip()):
        raise fail(f"SERIAL: {serial!r} is not a hexadecimal serial number")
    initialise(quiet=True)
    try:
        with session_scope() as session:
            record, keys = certificates.revoke_by_serial(session, serial=serial)
            revoked_at = record.revoked_at
    except Exception as exc:
        raise fail(_message(exc)) from exc
    console.print(f"certificate {serial} revoked at {revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    if keys:
        console.print(f"API keys bound to it, now refused: {', '.join(map(str, keys))}")
