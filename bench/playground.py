"""Playground rows (`python -m bench --only playground`), issue 21's targets:
- training speed: epochs per second of the largest network (6 hidden layers of 8) on 500 points (250 train,
  batch 10, TFP's defaults otherwise), in process, as the pool's trainer thread runs it (target >= 20/s);
- one redraw's server time: the snapshot, the batched grid pass, the gradients and the three figures serialised as
  st.plotly_chart does (in process, target <= 100 ms), and as the page itself reports it on a real server;
- six headless sessions playing at once on one real server (tools/headless_session.py speaks the fragment
  protocol): each session's median redraw within 2x of one session alone, and the server's memory after warm-up.

The page writes "Redrawn in N ms · training at M epochs/s" under its pictures on every redraw; the server rows read
those captions from the headless sessions, so they measure the server's own time for each tick.
Run alone: `python -m bench.playground [--quick]`.
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the app runs (ui/__init__.py)
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

from bench.timing import median_ms, row  # noqa: E402

BIG = "hidden=8,8,8,8,8,8&data=circle&batch=10&train=50"  # the network: 6 x 8 on 500 points
REDRAWN = re.compile(r"Redrawn in (\d+) ms(?: · training at (\d+) epochs/s)?")


def _big(**changes):
    from dataclasses import replace

    from core.lessons.playground.config import PlaygroundConfig

    return replace(PlaygroundConfig(hidden=(8,) * 6), **changes)


def training_rows(quick: bool) -> list[dict]:
    from core.lessons.playground.config import FEATURES
    from core.lessons.playground.live import Playground

    out = []
    epochs = 40 if quick else 200
    for label, cfg in (("SGD (TFP's)", _big()), ("Adam", _big(optimizer="adam")),
                       ("SGD, all 7 features", _big(features=tuple(FEATURES)))):
        pg = Playground(cfg)
        pg.train(5)  # warm-up
        t0 = time.perf_counter()
        pg.train(epochs)
        rate = epochs / (time.perf_counter() - t0)
        out.append(row(f"Playground 6x8, 500 points (250 train, batch 10), {label}: training speed", rate,
                       "epochs/s", target=">= 20", met=bool(rate >= 20),
                       note=f"{epochs} epochs in process, {pg.steps_per_epoch} steps each"))
    return out


def _ticker(pg):
    """One redraw's computation for `pg` as the page does it while playing: the snapshot, the grid pass and
    gradients, and the three figures serialised as st.plotly_chart serialises them."""
    import plotly.io as pio

    from core.figures import playground as figures
    from core.lessons.playground.config import View

    d = pg.data
    train = (d.train_xy.numpy(), d.train_y[:, 0].numpy())
    test = (d.test_xy.numpy(), d.test_y[:, 0].numpy())

    def tick() -> None:
        snap = pg.snapshot()
        look = pg.viewer.look(snap.cfg, snap.state, d)
        for fig in (figures.network(look, snap.cfg, View(), edge_points=False),
                    figures.boundary(look, snap.cfg, View(), train, test),
                    figures.loss_curves(snap.train_loss, snap.test_loss, snap.baseline)):
            pio.to_json(fig.to_dict(), validate=False)

    return tick


def tick_rows(quick: bool) -> list[dict]:
    from core.lessons.playground.config import FEATURES, PlaygroundConfig
    from core.lessons.playground.live import Playground

    out = []
    for label, cfg in (("default 2-4-2-1", PlaygroundConfig()),
                       ("6x8, all 7 features", _big(features=tuple(FEATURES)))):
        pg = Playground(cfg)
        pg.train(20)
        ms = median_ms(_ticker(pg), 5 if quick else 20, warmup=2)
        out.append(row(f"Playground {label}: one redraw's compute (grid pass 60x60 + gradients + 3 figures, "
                       "serialised)", ms, "ms", target="<= 100", met=bool(ms <= 100), note="in process, median"))
    return out


def yield_rows(quick: bool) -> list[dict]:
    """The trainer thread beside a page redrawing twice a second, in process: with the pool's rule (no new epoch
    while a page draws) and without it (yield_s = 0), side by side."""
    import threading

    from core.lessons.playground.live import Playground
    from core.lessons.playground.pool import Pool

    seconds = 4.0 if quick else 12.0
    results = {}
    for label, wait in (("redraws first", 0.25), ("no yielding", 0.0)):
        pool = Pool(lease_s=seconds + 5, yield_s=wait)
        trained, drawn = Playground(_big()), Playground(_big())
        pool.put("trained", trained)
        tick = _ticker(drawn)
        tick()
        pool.play("trained")
        start_epoch, ticks, stop = trained.epoch, [], time.monotonic() + seconds
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            with pool.drawing():
                tick()
            ticks.append(1000 * (time.perf_counter() - t0))
            time.sleep(max(0.0, 0.5 - (time.perf_counter() - t0)))
        pool.pause("trained")
        results[label] = (statistics.median(ticks), (trained.epoch - start_epoch) / seconds)
        threading.Event().wait(0.3)  # the trainer's last slice ends
    (a_ms, a_rate), (b_ms, b_rate) = results.values()
    return [row("Playground 6x8 redraw beside the trainer thread: redraws first (the pool's rule)", a_ms, "ms",
                baseline=round(b_ms, 1), ratio=round(a_ms / b_ms, 2),
                note=f"without yielding {b_ms:.0f} ms; training {a_rate:.0f} vs {b_rate:.0f} epochs/s; in process, "
                     "one redraw every 0.5 s")]


def _play(url: str, seconds: float, sessions: int, spread_s: float = 0.0) -> list[tuple[list[int], list[int]]]:
    """`sessions` headless sessions open `url`, press Play (all at once, or one every spread_s / sessions seconds:
    learners who started at different moments) and keep playing for `seconds`; each session's (redraw ms,
    epochs/s) as its page reported them, the first two redraws after Play left out (warm-up)."""
    from tools.headless_session import HeadlessSession

    opened = [HeadlessSession(url) for _ in range(sessions)]
    try:
        for s in opened:
            s.wait_for("Redrawn in", timeout_s=300)
            s.wait_for_button("Play", timeout_s=300)
        starts = [len(s.texts) for s in opened]
        for s in opened:
            s.click("Play")
            time.sleep(spread_s / sessions)
        time.sleep(seconds)
        out = []
        for s, start in zip(opened, starts):
            found = [REDRAWN.search(t) for t in s.texts[start:]]
            ticks = [(int(m.group(1)), int(m.group(2) or 0)) for m in found if m and m.group(2)][2:]
            out.append(([t for t, _ in ticks], [r for _, r in ticks]))
        return out
    finally:
        for s in opened:
            s.close()


def server_rows(quick: bool) -> list[dict]:
    from tools.app_server import proc_status, running_server

    seconds = 6.0 if quick else 20.0
    out = []
    with tempfile.TemporaryDirectory(prefix="ptce-playground-") as tmp, \
            running_server(Path(tmp)) as (proc, base):
        url = f"{base}/playground?{BIG}"
        _play(url, 4.0, 1)  # warm-up: imports, caches, the trainer thread
        warm = proc_status(proc.pid)["rss_mib"]
        (alone_ticks, alone_rates), = _play(url, seconds, 1)
        alone = statistics.median(alone_ticks)
        out.append(row("Playground 6x8 on a real server, 1 headless session playing: server time per redraw", alone,
                       "ms", target="<= 100", met=bool(alone <= 100),
                       note=f"median of {len(alone_ticks)} redraws ({TICK_NOTE}); training meanwhile "
                            f"{statistics.median(alone_rates):.0f} epochs/s"))
        for how, spread in (("pressed Play in the same instant (redraws in step)", 0.0),
                            ("started 0.1 s apart (redraws out of step)", 0.5)):
            six = _play(url, seconds, 6, spread)
            medians = [statistics.median(t) for t, _ in six if t]
            worst = max(medians)
            rates = [statistics.median(r) for _, r in six if r]
            out.append(row(f"Playground 6x8, 6 headless sessions playing at once, {how}: slowest session's median "
                           "redraw", worst, "ms", baseline=round(alone, 1), ratio=round(worst / alone, 2),
                           target="<= 2x alone", met=bool(worst <= 2 * alone),
                           note=f"each session's median: {', '.join(f'{m:.0f}' for m in medians)} ms; training "
                                f"{', '.join(f'{r:.0f}' for r in rates)} epochs/s each (one trainer thread shares "
                                "one core among them)"))
        rss = [proc_status(proc.pid)["rss_mib"]]
        for _ in range(2 if quick else 4):  # more rounds of six new sessions: does memory keep growing?
            _play(url, 6.0, 6, 0.5)
            rss.append(proc_status(proc.pid)["rss_mib"])
        out.append(row("Playground server memory after rounds of six more sessions", rss[-1], "MiB RSS",
                       baseline=warm, note=f"{warm} MiB after warm-up; {rss[0]} after the six-session rows; then "
                                           f"{', '.join(map(str, rss[1:]))} after each round of six new sessions "
                                           "(closed sessions are kept 2 minutes by Streamlit for a reconnect, their "
                                           "networks 1 minute; at most 32 networks)"))
    return out


TICK_NOTE = "the page's own 'Redrawn in' caption, each session at its own period in 0.42-0.5 s"


def rows(quick: bool = False) -> list[dict]:
    return training_rows(quick) + tick_rows(quick) + yield_rows(quick) + server_rows(quick)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(int(os.environ.get("PTCE_THREADS", 0)) or os.cpu_count() or 1)
    for r in rows("--quick" in sys.argv):
        print(r)
