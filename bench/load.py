"""Load rows (`python -m bench --only load`): one real server on localhost, sessions watching a run train in
the server's worker pool.

The run is the one from issue 12: Net2 hidden 512, batch 16, 5 epochs on the bundled sample. "Alone" is
the same run submitted to a warm worker pool with no server at all (0 sessions); then 1 and 6 sessions
watch it on a real server (all of them press Train: one job). Two kinds of session:
- headless (bench/headless_session.py): the frontend's websocket protocol without a browser, so the row
  measures what the server adds. These rows carry the issue's target (within 1.5× of alone), under both
  worker OpenMP wait policies and both `runner.postScriptGC` settings.
- Chromium tabs (Playwright): what a learner's browser adds when it runs on the same machine as the app, as
  it does for a local app. Reported with the CPU each process used.
The session helpers are shared with tests/test_load.py.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.headless_session import HeadlessSession

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
RUN_URL = "fully_connected?hidden=512&bs=16&ep=5&opt=adam&lr=0.001&seed={seed}"  # the run
TINY_URL = "fully_connected?hidden=16&bs=512&ep=1&seed={seed}"
STORED = re.compile("Trained run loaded from the store|Trained now")  # the one who pressed Train: "now"


@dataclass(frozen=True)
class ServerSettings:
    worker_omp: str = "PASSIVE"  # OMP_WAIT_POLICY inside the training workers (the server keeps PASSIVE)
    post_script_gc: bool = False  # streamlit's runner.postScriptGC

    def label(self) -> str:
        return f"workers OMP_WAIT_POLICY={self.worker_omp}, postScriptGC={str(self.post_script_gc).lower()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int | None = None, env: dict[str, str | None] | None = None,
                 args: tuple[str, ...] = (), timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """A fresh `streamlit run streamlit_app.py` on a free localhost port (offline, its own store in `home`), once
    its health endpoint answers -> (process, base URL). `env`: variables set on top (None removes one);
    `args`: extra Streamlit options. The one server starter of the bench and the tests."""
    port = port or _free_port()
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
def running_server(home: Path, settings: ServerSettings = ServerSettings(),
                   timeout_s: float = 120.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """`start_server` with these settings -> (process, base URL); stopped afterwards."""
    proc, url = start_server(home, env={"PTCE_WORKER_OMP": settings.worker_omp},
                             args=("--runner.postScriptGC", str(settings.post_script_gc).lower()),
                             timeout_s=timeout_s)
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


def settle_threads(pid: int, target: int, timeout_s: float = 30.0) -> int:
    """The server's thread count once it is back to `target` (or whatever it is after `timeout_s`)."""
    deadline = time.time() + timeout_s
    while (threads := proc_status(pid)["threads"]) > target and time.time() < deadline:
        time.sleep(0.5)
    return threads


def exceptions(page) -> int:
    return page.locator("[data-testid='stException']").count()


def open_page(context, url: str, wait_text: str, timeout_ms: int = 180_000):
    page = context.new_page()
    page.goto(url)
    page.get_by_text(wait_text).first.wait_for(timeout=timeout_ms)
    return page


def train_and_watch(browser, url: str, sessions: int, timeout_ms: int = 600_000,
                    before_close: Callable[[], None] = lambda: None) -> tuple[float, list[float]]:
    """`sessions` contexts open the same run's URL and all press Train (one job); seconds from the first
    click until the first session shows the stored run, and until each one does. `before_close` runs once
    every session shows it, while their tabs still exist."""
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(sessions)]
    try:
        pages = [open_page(c, url, "Estimated training time") for c in contexts]
        buttons = [page.get_by_role("button", name="Train", exact=True) for page in pages]
        for button in buttons:  # the page draws in steps: the text above can show before the button
            button.wait_for(timeout=timeout_ms)
        t0 = time.perf_counter()
        for button in buttons:  # all press Train: one job, the others join it
            button.click()
        seen = []
        for page in pages:
            page.get_by_text(STORED).wait_for(timeout=timeout_ms)
            seen.append(time.perf_counter() - t0)
            assert exceptions(page) == 0
        before_close()
        return min(seen), seen
    finally:
        for c in contexts:
            c.close()


def move_a_slider(page, steps: int = 2) -> None:
    """Keyboard on the first slider thumb: what a learner does with the arrow keys. Each press reruns the
    page, which may re-render the thumb, so the locator is resolved again and the rerun awaited before the
    next press (with generous timeouts: under load a rerun can take many seconds)."""
    for _ in range(steps):
        page.get_by_role("slider").first.press("ArrowRight", timeout=120_000)
        page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=120_000)


def draw_stroke(page, points: list[tuple[float, float]]) -> None:
    """Press, drag through `points` (canvas pixels) and release on the Draw page's canvas (fabric's upper
    canvas), as a mouse does."""
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()


def tour(page, base: str, rounds: int) -> int:
    """Switch pages through the sidebar and move sliders; returns the number of actions done."""
    actions = 0
    for i in range(rounds):
        for title in ("Loss functions", "Optimizers", "Convolutions", "Fully connected net"):
            page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
            page.get_by_role("slider").first.wait_for(timeout=120_000)
            move_a_slider(page, 1 + i % 2)
            page.wait_for_timeout(300)
            assert exceptions(page) == 0, f"exception on {title}"
            actions += 2
    return actions


def alone_seconds(home: Path, settings: ServerSettings, seed: int) -> float:
    """The issue's run on a warm worker pool and no server (0 sessions): submit -> stored, seconds."""
    from core.config import ModelConfig, Paths, TrainConfig
    from core.jobs import Jobs

    pool = Jobs(Paths(home), omp_wait_policy=settings.worker_omp)
    try:
        warm_cfg = TrainConfig(ModelConfig("net2", 16), batch_size=512, epochs=1, seed=9_000 + seed)  # seed < 10^4
        warm = pool.submit(warm_cfg)
        assert warm.done.wait(600) and warm.status == "ok", warm.error
        t0 = time.perf_counter()
        job = pool.submit(TrainConfig(model=ModelConfig("net2", 512), batch_size=16, epochs=5, lr=1e-3, seed=seed))
        assert job.done.wait(600) and job.status == "ok", job.error
        return time.perf_counter() - t0
    finally:
        pool.shutdown()


def row(name: str, value: float, unit: str, **extra) -> dict:
    r = {"name": name, "value": round(value, 4), "unit": unit, **extra}
    print(f"  {name}: {value:.4g} {unit} {extra}", file=sys.stderr, flush=True)  # long group: show as it goes
    return r


def headless_train_and_watch(url: str, sessions: int, timeout_s: float = 600.0,
                             before_close: Callable[[], None] = lambda: None) -> tuple[float, list[float]]:
    """`train_and_watch` with headless sessions (websocket clients, no browser)."""
    watchers = [HeadlessSession(url) for _ in range(sessions)]
    try:
        for w in watchers:
            w.wait_for_button("Train", timeout_s)
        marks = [len(w.texts) for w in watchers]
        t0 = time.perf_counter()
        for w in watchers:  # all press Train: one job, the others join it
            w.click("Train")
        seen = [w.wait_for(STORED, timeout_s, since=m) - t0 for w, m in zip(watchers, marks)]
        assert sum(w.exceptions for w in watchers) == 0
        before_close()
        return min(seen), seen
    finally:
        for w in watchers:
            w.close()


WATCHERS = {"headless": ("headless session", "headless sessions"), "browser": ("Chromium tab", "Chromium tabs")}


def server_rows(browser, settings: ServerSettings, seed: int, alone_s: float,
                kinds: tuple[str, ...] = ("headless",)) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ptce-load-") as tmp, running_server(Path(tmp), settings) as (proc, url):
        warm = HeadlessSession(f"{url}/{TINY_URL.format(seed=seed)}")  # starts the pool; the worker warms up
        warm.wait_for_button("Train")
        warm.click("Train")
        warm.wait_for(STORED)
        warm.close()
        before = proc_status(proc.pid)
        base_threads = settle_threads(proc.pid, 0, timeout_s=5)
        workers = descendants(proc.pid)  # the training pool, started by the warm-up
        offset = 0
        for kind in kinds:
            for sessions in (1, 6):
                offset += 1  # a new config each time: it trains, it is not loaded
                cpu: list[list[float]] = []

                def sample(cpu: list[list[float]] = cpu) -> None:  # server, worker, this process + browser
                    clients = [os.getpid()] + [p for p in descendants(os.getpid())
                                               if p != proc.pid and p not in workers]
                    cpu.append([cpu_seconds([proc.pid]), cpu_seconds(workers), cpu_seconds(clients)])

                sample()
                run_url = f"{url}/{RUN_URL.format(seed=seed + offset)}"
                first, seen = (headless_train_and_watch(run_url, sessions, before_close=sample) if kind == "headless"
                               else train_and_watch(browser, run_url, sessions, before_close=sample))
                server_s, worker_s, client_s = (b - a for a, b in zip(*cpu))
                one, many = WATCHERS[kind]
                tag = f"{sessions} {many if sessions > 1 else one} watching"
                target = ({"target": "within 1.5× of alone", "met": bool(max(seen) <= 1.5 * alone_s)}
                          if kind == "headless" else {})
                rows.append(row(f"Net2 h512 bs16 5 ep: Train -> stored run shown, {tag} ({settings.label()})",
                                max(seen), "s", baseline=round(alone_s, 3), ratio=round(max(seen) / alone_s, 2),
                                **target,
                                note=f"first session {first:.1f} s; CPU s meanwhile: server {server_s:.1f}, "
                                     f"training worker {worker_s:.1f}, {many.split()[-1]} "
                                     f"{client_s:.1f} (on this machine's {os.cpu_count()} cores too)"))
        after = proc_status(proc.pid)
        threads_back = settle_threads(proc.pid, base_threads)
        rows.append(row(f"Server after {' and '.join(kinds)} sessions ({settings.label()})", after["rss_mib"],
                        "MiB RSS",
                        note=f"{before['rss_mib']} MiB after warm-up; threads {base_threads} before, "
                             f"{after['threads']} with sessions, {threads_back} after they closed; "
                             f"{after['inotify_watches']} inotify watches"))
    return rows


def rows(quick: bool = False) -> list[dict]:
    from playwright.sync_api import sync_playwright

    matrix = [ServerSettings()] if quick else [
        ServerSettings(), ServerSettings("ACTIVE", False), ServerSettings("PASSIVE", True)]
    kinds = {ServerSettings(): ("headless", "browser")}  # the others: the server-side comparison only
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for i, settings in enumerate(matrix):
                seed = 100 * (i + 1)
                with tempfile.TemporaryDirectory(prefix="ptce-alone-") as tmp:
                    alone = alone_seconds(Path(tmp), settings, seed)
                out.append(row(f"Net2 h512 bs16 5 ep: submit -> stored, 0 sessions (worker pool alone, "
                               f"OMP_WAIT_POLICY={settings.worker_omp})", alone, "s"))
                out += server_rows(browser, settings, seed, alone, kinds.get(settings, ("headless",)))
        finally:
            browser.close()
    return out
