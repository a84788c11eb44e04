"""The ``csledger`` command: serve, migrate, worker, checkpoint, reconcile, pdmp, verify,
export, token, demo, openapi."""

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Role
from app.core.clock import SystemClock
from app.core.config import Settings, get_settings
from app.core.db import Database, create_engine
from app.core.jobs import ClaimedJob
from app.core.logging import configure_logging
from app.ledger import keys

# Each command imports what only it needs: a command starts in about half the time when it
# does not load the web server, the demo, the worker and the migrations as well.

_NO_JOB = ClaimedJob(uuid.UUID(int=0), "sign_checkpoints", None, {}, 1, 1)
"""``csledger checkpoint`` runs the job's work directly, outside the queue."""

cli = typer.Typer(help="Schedule III compliance ledger.", no_args_is_help=True)


@cli.command()
def migrate() -> None:
    """Apply every migration (run once per deployment, before the replicas start)."""
    from app.core.migrations import ensure_sqlite_directory, grant_runtime_role, upgrade_to_head

    settings = get_settings()
    ensure_sqlite_directory(settings.database_url)
    upgrade_to_head(settings.database_url)
    typer.echo("database at the latest migration")
    role = settings.database_runtime_role
    if role is not None and not settings.is_sqlite:
        _with_database(settings, lambda database: grant_runtime_role(database.engine, role))
        typer.echo(f"role {role} may read, insert and update what is mutable, nothing more")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: CSLEDGER_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default: CSLEDGER_PORT")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn (migrations are a separate step: csledger migrate)."""
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run("app.main:create_app_from_environment", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, log_config=None,
                proxy_headers=True)  # fmt: skip


@cli.command()
def worker() -> None:
    """Run the job worker until interrupted (any number may run on PostgreSQL)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    _with_database(settings, lambda database: _run_worker(database, settings))


async def _run_worker(database: Database, settings: Settings) -> None:
    """The worker, until SIGINT or SIGTERM."""
    from app.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await Worker(database, settings, SystemClock()).run(stop)


@cli.command()
def checkpoint() -> None:
    """Sign a checkpoint for every registrant whose ledger grew since its last one."""
    settings = get_settings()
    made = asyncio.run(_sign_checkpoints(settings))
    typer.echo(f"signed {made} checkpoint(s)")


async def _sign_checkpoints(settings: Settings) -> int:
    from app.ledger.work import sign_checkpoints

    database = Database(create_engine(settings))
    try:
        async with database.transaction() as session:
            result = await sign_checkpoints(settings)(session, _NO_JOB, SystemClock())
    finally:
        await database.dispose()
    return int(result["checkpoints"])


@cli.command()
def reconcile(
    registrant: Annotated[str, typer.Option(help="Registrant id")],
    first_day: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); default: yesterday")
    ] = None,
    last_day: Annotated[
        str | None, typer.Option("--to", help="Last day, inclusive; default: the first")
    ] = None,
) -> None:
    """Reconcile one registrant's days now (as the worker's runs do) and print what was found."""
    from app.reconciliation.runs import PeriodReversed, reconcile_days
    from app.registry.service import NoSuchRegistrant

    settings = get_settings()
    registrant_id = uuid.UUID(registrant)
    try:
        result = _in_session(settings, lambda session: reconcile_days(
            session, registrant_id, settings, SystemClock().now(), first_day=first_day,
            last_day=last_day), write=True)  # fmt: skip
    except NoSuchRegistrant as exc:
        raise typer.BadParameter(str(exc)) from exc
    except PeriodReversed as exc:
        raise typer.BadParameter("--to is before --from") from exc
    typer.echo(json.dumps(result, indent=2))


@cli.command()
def pdmp(
    registrant: Annotated[str, typer.Option(help="The pharmacy's registrant id")],
    day: Annotated[str, typer.Option("--date", help="Its day to report (YYYY-MM-DD)")],
    output: Annotated[
        Path | None, typer.Option(help="Write here (default: standard output)")
    ] = None,
    submit: Annotated[
        bool, typer.Option("--submit", help="Submit the day: keep the file under a control number")
    ] = False,
    corrects: Annotated[
        str | None, typer.Option(help="With --submit: the rejected submission this corrects")
    ] = None,
) -> None:
    """Write a pharmacy's ASAP 4.2A file for a day: a preview (nothing kept, a test file under
    control number 000000000), or with --submit the file submitted, kept as the API keeps it."""
    from app.core.errors import AppError
    from app.registry.service import NoSuchRegistrant
    from app.reports.pdmp.submissions import Author, day_file

    if corrects is not None and not submit:
        raise typer.BadParameter("--corrects goes with --submit")
    registrant_id, reported_day = _uuid(registrant, "registrant"), _day(day, "--date")
    corrected = _uuid(corrects, "submission") if corrects else None
    submitter = Author.of_command("csledger pdmp") if submit else None
    settings = get_settings()
    try:
        content, made = _in_session(settings, lambda session: day_file(
            session, registrant_id, reported_day, settings, SystemClock().now(),
            submit_as=submitter, corrects=corrected, field="--date"), write=True)  # fmt: skip
    except NoSuchRegistrant as exc:
        raise typer.BadParameter(str(exc)) from exc
    except AppError as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(code=1) from exc
    what = "a preview: nothing kept" if made is None else (
        f"submission {made.id}, control number {made.control_number}")  # fmt: skip
    # The file's bytes exactly (UTF-8), whatever the locale's encoding; what it is on the side.
    if output is None:
        typer.echo(content.encode(), nl=False)
        typer.echo(what, err=True)
    else:
        output.write_bytes(content.encode())
        typer.echo(f"wrote {output} ({what})")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a {what} id (a UUID)") from exc


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{option}: {value!r} is not a day (YYYY-MM-DD)") from exc


@cli.command()
def verify(
    registrant: Annotated[
        list[str] | None, typer.Option(help="Repeatable; default: every registrant")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="Verify an export offline instead")] = None,
    keys_file: Annotated[
        Path | None, typer.Option("--keys", help="Trusted JWKS for --file (default: its own)")
    ] = None,
    processes: Annotated[
        int, typer.Option(min=0, help="Worker processes per chain (PostgreSQL); 0: one per CPU")
    ] = 0,
) -> None:
    """Verify chains, Merkle roots and checkpoint signatures; exit 1 naming the first event
    that does not hold."""
    from app.ledger.export import verify_file
    from app.ledger.verification import verify_registrants

    if file is not None:
        trusted = json.loads(keys_file.read_text())["keys"] if keys_file else None
        outcomes = [asyncio.run(verify_file(file, trusted_keys=trusted))]
    else:
        registrant_ids = [_uuid(r, "registrant") for r in registrant or []]
        processes = processes or os.cpu_count() or 1
        settings = get_settings()
        published = keys.published_by_kid(settings)
        outcomes = _in_session(settings, lambda session: verify_registrants(
            session, registrant_ids, keys=published, processes=processes), write=False)  # fmt: skip
    for outcome in outcomes:
        typer.echo(outcome.describe())
    if not all(outcome.ok for outcome in outcomes):
        raise typer.Exit(code=1)


@cli.command()
def export(
    registrant: Annotated[str, typer.Option(help="Registrant id")],
    output: Annotated[Path, typer.Option(help="JSON Lines file to write")],
) -> None:
    """Write a registrant's ledger, checkpoints and signing keys for offline verification."""
    from app.ledger.export import write_export

    settings = get_settings()
    registrant_id = _uuid(registrant, "registrant")
    count = _in_session(settings, lambda session: write_export(
        session, registrant_id, output, keys=keys.published_keys(settings),
        now=SystemClock().now()), write=False)  # fmt: skip
    typer.echo(f"wrote {count} lines to {output}")


@cli.command()
def token(
    sub: Annotated[str, typer.Option(help="Token subject (links to staff.subject)")],
    name: Annotated[str, typer.Option(help="Display name")],
    role: Annotated[list[Role], typer.Option(help="Repeatable")],
    registrant: Annotated[list[str], typer.Option(help='Repeatable; "*" for admin-only')],
    hours: Annotated[int, typer.Option(help="Lifetime")] = 12,
    private_key: Annotated[Path | None, typer.Option(help="PEM for RS256/ES256")] = None,
) -> None:
    """Mint a development token (refused in production)."""
    from app.auth.tokens import ALL_REGISTRANTS, mint_token

    settings = get_settings()
    if settings.is_production:
        typer.echo("tokens are not minted in production", err=True)
        raise typer.Exit(code=2)
    for value in registrant:
        if value != ALL_REGISTRANTS:
            uuid.UUID(value)
    typer.echo(mint_token(settings, subject=sub, name=name, roles=role, registrants=registrant,
                          now=datetime.now(UTC), lifetime=timedelta(hours=hours),
                          private_key_file=private_key))  # fmt: skip


@cli.command()
def demo(
    print_tokens: Annotated[
        bool, typer.Option("--print-tokens", help="Also print development tokens and the docs URL")
    ] = False,
) -> None:
    """Load the demo clinic and pharmacy into a database with no registrant yet (idempotent)."""
    from app.demo import DemoNotLoadable, console_sign_in_url, describe, load_or_find, token_banner

    settings = get_settings()
    if settings.is_production:
        typer.echo("the demo is not loaded in production", err=True)
        raise typer.Exit(code=2)
    try:
        result, registrants = _with_database(
            settings, lambda database: load_or_find(database, SystemClock(), settings)
        )
    except DemoNotLoadable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(describe(result) if result else "demo data already present")
    if print_tokens:
        now = datetime.now(UTC)
        typer.echo(token_banner(settings, registrants, now=now))
        if registrants is not None:
            url = _with_database(settings, lambda database: console_sign_in_url(
                database, settings, registrants, now=now))  # fmt: skip
            typer.echo(f"Console, signed in as the demo staff (the link works once, within "
                       f"{settings.console_sign_in_link_minutes} minutes):\n  {url}")  # fmt: skip


@cli.command("sign-in-link")
def sign_in_link(
    sub: Annotated[str | None, typer.Option(help="Subject; default: the demo's staff")] = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    role: Annotated[list[Role] | None, typer.Option(help="Repeatable")] = None,
    registrant: Annotated[
        list[str] | None, typer.Option(help='Repeatable; "*" for admin-only')
    ] = None,
) -> None:
    """Print a console sign-in link that works once (development only): for the demo's member
    of staff, or for the subject, roles and registrants given."""
    from app.console import links
    from app.demo import demo_staff_claims, find_demo, served_url

    settings = get_settings()
    if settings.is_production:
        typer.echo("sign-in links are not made in production", err=True)
        raise typer.Exit(code=2)
    if sub is None:
        found = _with_database(settings, find_demo)
        if found is None:
            typer.echo("no demo here: load it (csledger demo) or give --sub, --name, --role "
                       "and --registrant", err=True)  # fmt: skip
            raise typer.Exit(code=1)
        claims = demo_staff_claims(found)
    else:
        claims = {"sub": sub, "name": name or sub, "roles": [str(r) for r in role or []],
                  "registrants": list(registrant or [])}  # fmt: skip
    now = datetime.now(UTC)
    path = _with_database(settings, lambda database: links.mint(database, settings, claims,
                                                                 now=now))  # fmt: skip
    typer.echo(f"{served_url(settings)}{path}")


@cli.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write")] = Path("openapi/openapi.json"),
) -> None:
    """Write the OpenAPI document (compared with the app's by a test)."""
    from app.main import create_app

    document = create_app().openapi()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    typer.echo(f"wrote {output}")


T = TypeVar("T")


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """``work`` on the database, in an event loop of its own; the database closed after."""

    async def run() -> T:
        database = Database(create_engine(settings))
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _in_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, write: bool
) -> T:
    """``work`` in one unit of work: a transaction committed if it succeeds, or a read."""

    async def run(database: Database) -> T:
        async with database.transaction() if write else database.session(write=False) as session:
            return await work(session)

    return _with_database(settings, run)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
