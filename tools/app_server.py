"""A real app server on localhost, and the processes around it: what the tests and the bench both start and measure.

`start_server` runs `streamlit run streamlit_app.py` offline on a free loopback port with its own store and
returns once the health endpoint answers; `running_server` does the same for a `with` block. The process
figures (threads, memory, CPU seconds, children) come from /proc (Linux: the bench and CI machines).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's, driven by Playwright (no browser download)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServerSettings:
    worker_omp: str = "PASSIVE"  # OMP_WAIT_POLICY inside the training workers (the server keeps PASSIVE)
    post_script_gc: bool = False  # streamlit's runner.postScriptGC

    def label(self) -> str:
        return f"workers OMP_WAIT_POLICY={self.worker_omp}, postScriptGC={str(self.post_script_gc).lower()}"

    def env(self) -> dict[str, str]:
        return {"PTCE_WORKER_OMP": self.worker_omp}

    def args(self) -> tuple[str, ...]:
        return ("--runner.postScriptGC", str(self.post_script_gc).lower())


def start_server(home: Path, port: int | None = None, env: dict[str, str | None] | None = None,
                 args: tuple[str, ...] = (), timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """A fresh `streamlit run streamlit_app.py` on a free localhost port (offline, its own store in `home`), once
    its health endpoint answers -> (process, base URL). `env`: variables set on top (None removes one);
    `args`: extra Streamlit options. The one server starter of the bench and the tests."""
    port = port or free_port()
    env = {k: v for k, v in {**os.environ, "PTCE_HOME": str(home), "PTCE_OFFLINE": "1", **(env or {})}.items()
           if v is not None}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                stop_server(proc)
                raise RuntimeError("streamlit server did not start") from None
            time.sleep(0.3)


def stop_server(proc: subprocess.Popen, wait_s: float = 15.0) -> None:
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def running_server(home: Path, env: dict[str, str | None] | None = None, args: tuple[str, ...] = (),
                   timeout_s: float = 120.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """`start_server` for a `with` block -> (process, base URL); stopped afterwards."""
    proc, url = start_server(home, env=env, args=args, timeout_s=timeout_s)
    try:
        yield proc, url
    finally:
        stop_server(proc)


def proc_status(pid: int) -> dict[str, int]:
    """Threads, resident memory (MiB) and inotify watches of a process, from /proc/<pid>."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    watches = 0
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            watches += sum(line.startswith("inotify") for line in info.read_text().splitlines())
        except OSError:  # the descriptor closed meanwhile
            pass
    return {"threads": int(fields["Threads"]), "rss_mib": int(fields["VmRSS"].split()[0]) // 1024,
            "inotify_watches": watches}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (from /proc/<pid>/stat; gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), from the parent ids in /proc."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def settle_threads(pid: int, target: int, timeout_s: float = 120.0) -> int:
    """The server's thread count once it is back to `target` (or whatever it is after `timeout_s`)."""
    deadline = time.time() + timeout_s
    while (threads := proc_status(pid)["threads"]) > target and time.time() < deadline:
        time.sleep(0.5)
    return threads
