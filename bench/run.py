"""``make bench``: the service against the floor under the same load, batch ingest, verify.

Creates a fresh PostgreSQL database, migrates and seeds it, serves the service and then the
floor (bench/floor.py) under uvicorn with 2 workers, drives both with wrk, times batch ingest
and ``csledger verify``, prints the table and rewrites the figures in bench/README.md. The
database, the servers and the temporary files are removed however the run ends.
"""

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from app.core.config import Settings
from bench import console, floor, ingest, reconcile, report, reports, servers, verify, webhooks
from bench.database import BenchDatabase
from bench.load import Load, LoadResult, require_wrk, run_wrk
from bench.seed import Target, bench_settings, seed, seed_floor, token, write_targets

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    hot: bool
    target_ratio: float


SCENARIOS = (
    Scenario("single appends, 20 registrants", hot=False, target_ratio=0.5),
    Scenario("single appends, 1 registrant (hot row)", hot=True, target_ratio=1.0),
)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    add = parser.add_argument
    add("--server-url", default=DEFAULT_SERVER_URL, help="any database on the server")
    add("--database", default="csledger_bench", help="created fresh, dropped at the end")
    add("--registrants", type=int, default=20)
    add("--duration", type=int, default=20, help="seconds of each wrk run")
    add("--warmup", type=int, default=3, help="seconds of wrk before each measured run")
    add("--connections", type=int, default=32)
    add("--threads", type=int, default=2)
    add("--workers", type=int, default=2, help="uvicorn worker processes")
    add("--batch-requests", type=int, default=10, help="batch requests of 1,000 events")
    add("--batch-streams", type=int, default=2, help="batch requests in flight at once")
    add("--verify-events", type=int, default=1_000_000, help="events in the verified chain")
    add("--reconcile-events", type=int, default=1_000_000, help="events in the reconciled year")
    add("--webhook-events", type=int, default=2_000, help="events sent to 10 endpoints each")
    add("--skip", action="append", default=[],
        choices=["append", "outbox", "batch", "webhooks", "verify", "reconcile",
                 "reports", "console"])  # fmt: skip
    add("--readme", type=Path, default=Path(__file__).with_name("README.md"))
    return parser.parse_args(argv)


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    if {"append", "outbox"} - set(args.skip):
        require_wrk()
    _stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="csledger-bench-"))
    database = BenchDatabase(args.server_url, args.database)
    started = datetime.now(UTC)
    try:
        figures = _run(args, database, workdir)
    finally:
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    figures.started = started
    figures.command = " ".join(["python -m bench.run", *argv])
    print(report.table(figures))
    report.write_readme(args.readme, figures)
    return 0


@dataclass(frozen=True, slots=True)
class Bench:
    """What every part of a run shares."""

    args: argparse.Namespace
    database: BenchDatabase
    workdir: Path
    settings: Settings
    targets: list[Target]
    token: str
    occurred_at: str

    @property
    def targets_file(self) -> Path:
        return self.workdir / "targets.txt"

    @property
    def environment(self) -> dict[str, str]:
        return {
            "CSLEDGER_DATABASE_URL": self.database.app_url,
            "CSLEDGER_ENVIRONMENT": "test",
            "CSLEDGER_DEVELOPMENT_KEY_DIR": str(self.settings.development_key_dir),
            # As many pooled connections as the floor may open (floor.POOL_SIZE * 2): with the
            # default 10, the 16 requests a worker holds at once churn overflow connections.
            "CSLEDGER_DATABASE_POOL_SIZE": str(2 * floor.POOL_SIZE),
            "BENCH_FLOOR_DSN": self.database.dsn,
        }

    def serve(self, target: list[str]) -> AbstractContextManager[servers.Server]:
        return servers.serve(
            target,
            env=self.environment,
            log=self.workdir / "server.log",
            ready_path="/readyz",
            workers=self.args.workers,
        )

    def drive(self, server: servers.Server, duration_s: int, *, hot: bool) -> LoadResult:
        load = Load(self.args.connections, self.args.threads, duration_s)
        return run_wrk(server.url, load=load, token=self.token, targets=self.targets_file,
                       hot=hot, occurred_at=self.occurred_at)  # fmt: skip


def _prepare(args: argparse.Namespace, database: BenchDatabase, workdir: Path) -> Bench:
    print(f"creating, migrating and seeding {database.name} ...", flush=True)
    database.create()
    settings = bench_settings(database.app_url, workdir / "keys")
    targets = asyncio.run(seed(settings, registrants=args.registrants))
    asyncio.run(seed_floor(database.dsn, targets))
    bench = Bench(args, database, workdir, settings, targets, token(settings, targets),
                  datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
    write_targets(bench.targets_file, targets)
    return bench


def _appends(bench: Bench, target: list[str], *, hot: bool) -> tuple[LoadResult, int]:
    """Warm up, then drive ``target`` while sampling its workers' peak RSS."""
    with bench.serve(target) as server:
        if bench.args.warmup > 0:
            bench.drive(server, bench.args.warmup, hot=hot)
        with server.sampling_rss():
            result = bench.drive(server, bench.args.duration, hot=hot)
        return result, max(server.peak_rss_kib.values(), default=0)


def _batch(bench: Bench) -> report.BatchFigures:
    args = bench.args
    with bench.serve(servers.APP) as server, server.sampling_rss():
        done = ingest.ingest(server.url, token=bench.token, targets=bench.targets,
                             occurred_at=bench.occurred_at, requests=args.batch_requests,
                             streams=args.batch_streams)  # fmt: skip
    return report.BatchFigures(done.events, done.requests, done.seconds, args.batch_streams,
                               max(server.peak_rss_kib.values(), default=0))  # fmt: skip


def _run(args: argparse.Namespace, database: BenchDatabase, workdir: Path) -> report.Figures:
    bench = _prepare(args, database, workdir)
    figures = report.Figures()
    if "append" not in args.skip:
        for scenario in SCENARIOS:
            print(f"{scenario.name}: the floor, the group-commit floor, then the service ...",
                  flush=True)  # fmt: skip
            floor, floor_rss = _appends(bench, servers.FLOOR, hot=scenario.hot)
            grouped, grouped_rss = _appends(bench, servers.GROUPED_FLOOR, hot=scenario.hot)
            service, service_rss = _appends(bench, servers.APP, hot=scenario.hot)
            figures.appends.append(
                report.AppendRow(
                    scenario.name,
                    scenario.target_ratio,
                    service,
                    service_rss,
                    floor,
                    floor_rss,
                    grouped,
                    grouped_rss,
                )
            )
    if "outbox" not in args.skip:
        print("the outbox's cost: appends without its rows, then with them ...", flush=True)
        without, without_rss = _appends(bench, servers.WITHOUT_OUTBOX, hot=False)
        with_outbox, with_rss = _appends(bench, servers.APP, hot=False)
        figures.outbox = report.OutboxCost(with_outbox, with_rss, without, without_rss)
    if "webhooks" not in args.skip:
        print(f"webhooks: {args.webhook_events:,} events to {webhooks.ENDPOINTS} endpoints, "
              "fanned out, then sent by one worker ...", flush=True)  # fmt: skip
        figures.webhooks = webhooks.run(bench, events=args.webhook_events)
    if "batch" not in args.skip:
        print(f"batch ingest: {args.batch_requests} requests of 1,000 events ...", flush=True)
        figures.batch = _batch(bench)
    if "verify" not in args.skip:
        print(f"verify: generating {args.verify_events:,} events, then timing ...", flush=True)
        done = verify.run(bench.settings, database.dsn, events=args.verify_events)
        figures.verify = report.VerifyFigures(done.events, done.seconds, done.peak_rss_kib,
                                              done.generate_seconds, done.output)  # fmt: skip
    if "reconcile" not in args.skip:
        print(f"reconcile: generating a year of {args.reconcile_events:,} events, then timing "
              "a full and a nightly run ...", flush=True)  # fmt: skip
        figures.reconcile = reconcile.run(bench.settings, database.dsn,
                                          events=args.reconcile_events)  # fmt: skip
        if "reports" not in args.skip:
            print("reports: the reconciled year's dispensing log and its lot's perpetual "
                  "inventory as CSV, and inventories ...", flush=True)  # fmt: skip
            year = figures.reconcile
            figures.reports = reports.run(bench, year.registrant_id, year.first_day,
                                          year.last_day, lot_id=year.lot_id)  # fmt: skip
        if "console" not in args.skip:
            print("console: each page over the reconciled year, as its compliance officer ...",
                  flush=True)  # fmt: skip
            year = figures.reconcile
            figures.console = console.run(bench, database.dsn, year.registrant_id, year.lot_id)
    return figures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
