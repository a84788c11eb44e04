"""Serving the service (or the floor) under uvicorn with worker processes, and watching them."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from app.core.migrations import PROJECT_ROOT

APP = ["app.main:create_app_from_environment", "--factory"]
FLOOR = ["bench.floor:app"]
GROUPED_FLOOR = ["bench.floor_grouped:app"]
WITHOUT_OUTBOX = ["bench.without_outbox:create_app", "--factory"]
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0


class Server:
    """A running uvicorn master and its worker processes."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.peak_rss_kib: dict[int, int] = {}
        self._sampling = threading.Event()

    def workers(self) -> list[int]:
        """The worker processes: the master's children that multiprocessing spawned (not its
        resource tracker)."""
        master = self.process.pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children if b"spawn_main" in _cmdline(int(pid))]

    @contextmanager
    def sampling_rss(self, every_s: float = 0.5) -> Iterator[None]:
        """Record each worker's peak RSS (VmHWM) while the block runs."""
        self._sampling.set()
        thread = threading.Thread(target=self._sample, args=(every_s,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._sampling.clear()
            thread.join()
            self._sample_once()

    def _sample(self, every_s: float) -> None:
        while self._sampling.is_set():
            self._sample_once()
            time.sleep(every_s)

    def _sample_once(self) -> None:
        for pid in self.workers():
            peak = _vm_hwm_kib(pid)
            if peak is not None:
                self.peak_rss_kib[pid] = max(peak, self.peak_rss_kib.get(pid, 0))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve(
    target: list[str],
    *,
    env: dict[str, str],
    log: Path,
    ready_path: str,
    workers: int = 2,
    port: int | None = None,
) -> Iterator[Server]:
    """uvicorn ``target`` with ``workers`` processes on a loopback port (a free one unless
    given), stopped on exit."""
    port = port or free_port()
    command = [sys.executable, "-m", "uvicorn", *target, "--workers", str(workers),
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=os.environ | env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, port)
    try:
        _wait_ready(server, ready_path, workers)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Server, path: str, workers: int) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.process.returncode}; see its log")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as response:  # noqa: S310
                # One worker is the master itself: uvicorn spawns none.
                if response.status == 200 and (workers == 1 or len(server.workers()) >= workers):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{server.url}{path} not ready after {_READY_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the master (it stops its workers); SIGKILL to its group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with suppress(ProcessLookupError):  # a worker the master left behind
        os.killpg(process.pid, signal.SIGKILL)
