"""Load rows (`python -m bench --only load`): one real server on localhost, sessions watching a run train in
the server's worker pool.

The run is the one from issue 12: Net2 hidden 512, batch 16, 5 epochs on the bundled sample. "Alone" is
the same run submitted to a warm worker pool with no server at all (0 sessions); then 1 and 6 sessions
watch it on a real server (all of them press Train: one job). Two kinds of session:
- headless (tools/headless_session.py): the frontend's websocket protocol without a browser, so the row
  measures what the server adds (not Streamlit's agent API, which never sends the fragment timers' reruns).
  These rows carry the issue's target (within 1.5× of alone), under both worker OpenMP wait policies and both
  `runner.postScriptGC` settings.
- Chromium tabs (Playwright): what a learner's browser adds when it runs on the same machine as the app, as
  it does for a local app. Reported with the CPU each process used.
The scenario and its session helpers live in tools/ (tools/load_run.py), shared with tests/test_load.py.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.timing import row
from tools.app_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ServerSettings,
    cpu_seconds,
    descendants,
    proc_status,
    running_server,
    settle_threads,
)
from tools.headless_session import HeadlessSession
from tools.load_run import (
    STORED,
    alone_seconds,
    headless_train_and_watch,
    issue_run,
    page_url,
    tiny_run,
    train_and_watch,
)

WATCHERS = {"headless": ("headless session", "headless sessions"), "browser": ("Chromium tab", "Chromium tabs")}


def server_rows(browser, settings: ServerSettings, seed: int, alone_s: float,
                kinds: tuple[str, ...] = ("headless",)) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ptce-load-") as tmp, \
            running_server(Path(tmp), settings.env(), settings.args()) as (proc, url):
        warm = HeadlessSession(f"{url}/{page_url(tiny_run(seed))}")  # starts the pool; the worker warms up
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
                run_url = f"{url}/{page_url(issue_run(seed + offset))}"
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
