"""The table the run prints, and the figures it writes into bench/README.md."""

import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.console import Paged
from bench.load import LoadResult
from bench.reconcile import Reconciled
from bench.reports import Reported
from bench.webhooks import Delivered

START_MARK = "<!-- bench:figures:start -->"
END_MARK = "<!-- bench:figures:end -->"
_MIB = 1024
WORKER_RSS_TARGET_MIB = 300


@dataclass(frozen=True, slots=True)
class AppendRow:
    scenario: str
    target_ratio: float
    service: LoadResult
    service_rss_kib: int
    floor: LoadResult
    floor_rss_kib: int
    grouped: LoadResult | None = None
    """The group-commit floor (:mod:`bench.floor_grouped`): the limit this machine allows."""
    grouped_rss_kib: int = 0
    target_p99_ms: float = 100

    @property
    def ratio(self) -> float:
        return self.service.ok_per_second / self.floor.ok_per_second

    @property
    def ratio_to_grouped(self) -> float | None:
        if self.grouped is None:
            return None
        return self.service.ok_per_second / self.grouped.ok_per_second


@dataclass(frozen=True, slots=True)
class BatchFigures:
    events: int
    requests: int
    seconds: float
    streams: int
    peak_rss_kib: int
    target_per_second: float = 10_000

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True, slots=True)
class VerifyFigures:
    events: int
    seconds: float
    peak_rss_kib: int
    generate_seconds: float
    output: str
    target_per_second: float = 150_000
    target_rss_mib: float = 300

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True, slots=True)
class OutboxCost:
    """The same appends with and without the ledger's outbox rows, one after the other."""

    with_outbox: LoadResult
    with_rss_kib: int
    without_outbox: LoadResult
    without_rss_kib: int
    target_added: float = 0.10

    @property
    def added(self) -> float:
        """How much longer an append takes with its outbox row (throughput ratio - 1)."""
        return self.without_outbox.ok_per_second / self.with_outbox.ok_per_second - 1


@dataclass(slots=True)
class Figures:
    appends: list[AppendRow] = field(default_factory=list)
    batch: BatchFigures | None = None
    verify: VerifyFigures | None = None
    reconcile: Reconciled | None = None
    reports: Reported | None = None
    console: Paged | None = None
    outbox: OutboxCost | None = None
    webhooks: Delivered | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    command: str = ""


def _mib(kib: int) -> str:
    return f"{kib / _MIB:.0f} MiB"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(figures: Figures) -> str:
    """A Markdown table: one row per measured thing, with its target and whether it is met."""
    lines = [
        "| scenario | events/s | p50 | p99 | peak RSS per worker | ratio to floor | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in figures.appends:
        lines.append(_load_line(f"floor: {row.scenario}", row.floor, row.floor_rss_kib, "", ""))
        if row.grouped is not None:
            name = f"group-commit floor: {row.scenario}"
            limit = "the limit of this machine"
            lines.append(_load_line(name, row.grouped, row.grouped_rss_kib, "", limit))
        ratio = f"{row.ratio:.2f}"
        if row.ratio_to_grouped is not None:
            ratio += f" ({row.ratio_to_grouped:.2f} of the group-commit floor)"
        rss_ok = row.service_rss_kib <= WORKER_RSS_TARGET_MIB * _MIB
        quick = row.service.p99_ms <= row.target_p99_ms
        target = (
            f">= {row.target_ratio} ({_met(row.ratio >= row.target_ratio)}); "
            f"p99 <= {row.target_p99_ms:.0f} ms ({_met(quick)}); "
            f"RSS <= {WORKER_RSS_TARGET_MIB} MiB ({_met(rss_ok)})"
        )
        lines.append(_load_line(row.scenario, row.service, row.service_rss_kib, ratio, target))
    if figures.batch is not None:
        batch = figures.batch
        met = _met(batch.per_second >= batch.target_per_second)
        target = f">= {batch.target_per_second:,.0f}/s ({met})"
        lines.append(
            f"| batch ingest, {batch.requests} x 1,000 events, {batch.streams} in flight "
            f"| {batch.per_second:,.0f} | | | {_mib(batch.peak_rss_kib)} | | {target} |"
        )
    if figures.verify is not None:
        verify = figures.verify
        ok = verify.per_second >= verify.target_per_second
        rss_ok = verify.peak_rss_kib <= verify.target_rss_mib * _MIB
        lines.append(
            f"| csledger verify, {verify.events:,} events | {verify.per_second:,.0f} | | "
            f"| {_mib(verify.peak_rss_kib)} (the command) | "
            f"| >= {verify.target_per_second:,.0f}/s ({_met(ok)}); "
            f"<= {verify.target_rss_mib:.0f} MiB ({_met(rss_ok)}) |"
        )
    if figures.reconcile is not None:
        lines += _reconcile_lines(figures.reconcile)
    if figures.reports is not None:
        lines += _report_lines(figures.reports)
    if figures.console is not None:
        lines += _console_lines(figures.console)
    if figures.outbox is not None:
        lines += _outbox_lines(figures.outbox)
    if figures.webhooks is not None:
        lines += _webhook_lines(figures.webhooks)
    return "\n".join(lines)


def _outbox_lines(cost: OutboxCost) -> list[str]:
    met = _met(cost.added < cost.target_added)
    return [
        _load_line("single appends, 20 registrants, without outbox rows", cost.without_outbox,
                   cost.without_rss_kib, "", ""),
        _load_line("the same, with them (the service)", cost.with_outbox, cost.with_rss_kib,
                   f"{cost.added:+.1%} per append", f"< {cost.target_added:.0%} ({met})"),
    ]  # fmt: skip


def _webhook_lines(done: Delivered) -> list[str]:
    met = _met(done.per_second >= done.target_per_second)
    return [
        f"| webhooks: fan-out of {done.events:,} events to {done.endpoints} endpoints "
        f"| {done.deliveries / done.fanout_seconds:,.0f} deliveries/s | | | | | |",
        f"| webhooks: one worker sending {done.deliveries:,} deliveries ({done.verified:,} "
        f"verified by the receiver) | {done.per_second:,.0f} | | | {_mib(done.peak_rss_kib)} "
        f"| | >= {done.target_per_second:,.0f}/s ({met}) |",
    ]


def _report_lines(done: Reported) -> list[str]:
    fast = done.rows_per_second >= done.target_rows_per_second
    slowest = max(done.inventory_seconds, default=0.0)
    quick = slowest < done.target_inventory_seconds
    times = ", ".join(f"{s * 1000:.0f} ms" for s in done.inventory_seconds)
    perpetual = []
    if done.perpetual is not None:
        ledger = done.perpetual
        met = _met(ledger.rows_per_second >= done.target_rows_per_second)
        perpetual = [
            f"| perpetual inventory of the year's lot as CSV, {ledger.rows:,} rows "
            f"({ledger.size / 1e6:.0f} MB) | {ledger.rows_per_second:,.0f} rows/s | | | | "
            f"| >= {done.target_rows_per_second:,.0f} rows/s ({met}) |"
        ]
    return [
        f"| dispensing log as CSV, {done.rows:,} rows ({done.megabytes:.0f} MB) "
        f"| {done.rows_per_second:,.0f} rows/s | | | {_mib(done.peak_rss_kib)} | "
        f"| >= {done.target_rows_per_second:,.0f} rows/s ({_met(fast)}) |",
        *perpetual,
        f"| inventory as of an instant (start, middle, end of the year) | {times} | | | | "
        f"| < {done.target_inventory_seconds:.0f} s ({_met(quick)}) |",
    ]


def _console_lines(done: Paged) -> list[str]:
    return [
        f"| console page `{page.page}` over the year ({page.size / 1000:,.0f} kB) "
        f"| median {page.median_ms:.0f} ms, slowest {page.slowest_ms:.0f} ms | | | | "
        f"| < {done.target_ms:.0f} ms ({_met(page.slowest_ms < done.target_ms)}) |"
        for page in done.pages
    ]


def _reconcile_lines(done: Reconciled) -> list[str]:
    full_ok = done.full_seconds <= done.target_full_seconds
    rss_ok = done.full_rss_kib <= done.target_rss_mib * _MIB
    nightly_ok = done.nightly_seconds <= done.target_nightly_seconds
    return [
        f"| csledger reconcile, a year of {done.events:,} events (recall {done.recall:.0%}, "
        f"{done.extra} extra) | {done.full_seconds:.1f} s (run {done.full_run_ms:,} ms) | | "
        f"| {_mib(done.full_rss_kib)} (the command) | "
        f"| <= {done.target_full_seconds:.0f} s ({_met(full_ok)}); "
        f"<= {done.target_rss_mib:.0f} MiB ({_met(rss_ok)}) |",
        f"| csledger reconcile, its last day | {done.nightly_seconds:.1f} s "
        f"(run {done.nightly_run_ms:,} ms) | | | | "
        f"| <= {done.target_nightly_seconds:.0f} s ({_met(nightly_ok)}) |",
    ]


def _load_line(name: str, result: LoadResult, rss_kib: int, ratio: str, target: str) -> str:
    failed = result.non_2xx + result.socket_errors
    note = f" ({failed} failed)" if failed else ""
    return (
        f"| {name}{note} | {result.ok_per_second:,.0f} | {result.p50_ms:.1f} ms "
        f"| {result.p99_ms:.1f} ms | {_mib(rss_kib)} | {ratio} | {target} |"
    )


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu}, {memory_kib / _MIB / _MIB:.1f} GiB memory, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def figures_section(figures: Figures) -> str:
    when = figures.started.strftime("%Y-%m-%d %H:%M UTC")
    lines = [START_MARK, f"Last run: {when}", "", f"Machine: {machine()}", "",
             f"Command: `{figures.command}` (what `make bench` runs)", "",
             table(figures)]  # fmt: skip
    if figures.verify is not None:
        lines += ["", f"`csledger verify` printed: `{figures.verify.output}`; generating the "
                  f"chain took {figures.verify.generate_seconds:.0f} s."]  # fmt: skip
    if figures.reconcile is not None:
        lines += ["", _planted_line(figures.reconcile)]
    return "\n".join([*lines, END_MARK])


def _planted_line(done: Reconciled) -> str:
    found = ", ".join(f"{rule} {hit}/{of}" for rule, (hit, of) in done.by_rule.items())
    return (
        f"The reconciled year held {done.sessions:,} sessions; generating it took "
        f"{done.generate_seconds:.0f} s. Planted anomalies found, per rule: {found}."
    )


def write_readme(path: Path, figures: Figures) -> None:
    """Replace the figures between the marks (or append them) in ``path``."""
    section = figures_section(figures)
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(START_MARK) + ".*?" + re.escape(END_MARK), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)
