"""Driving the append endpoint with wrk and reading what its Lua ``done`` hook prints."""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("append.lua")
_LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Load:
    connections: int
    threads: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def ok_per_second(self) -> float:
        """Successful appends per second (refused or failed requests do not count)."""
        return (self.requests - self.non_2xx) / self.seconds


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is missing: apt-get update && apt-get install -y wrk")
    return found


def run_wrk(
    url: str, *, load: Load, token: str, targets: Path, hot: bool, occurred_at: str
) -> LoadResult:
    """Run wrk for ``load.duration_s`` seconds (plus a bounded grace) and parse its summary."""
    command = [
        require_wrk(),
        f"--connections={load.connections}",
        f"--threads={load.threads}",
        f"--duration={load.duration_s}s",
        "--timeout=10s",
        f"--script={SCRIPT}",
        f"--header=Authorization: Bearer {token}",
        url,
        "--",
        str(targets),
        "hot" if hot else "spread",
        occurred_at,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=load.duration_s + 60, check=True
    )
    return parse(done.stdout)


def parse(output: str) -> LoadResult:
    found = _LINE.search(output)
    if found is None:
        raise RuntimeError(f"wrk printed no BENCH line:\n{output}")
    fields = dict(pair.split("=", 1) for pair in found.group(1).split())
    return LoadResult(
        requests=int(fields["requests"]),
        seconds=int(fields["duration_us"]) / 1e6,
        non_2xx=int(fields["non_2xx"]),
        socket_errors=int(fields["socket_errors"]),
        p50_ms=int(fields["p50_us"]) / 1000,
        p99_ms=int(fields["p99_us"]) / 1000,
    )
