"""Every learner's playground network in one server process, and the one thread that trains the playing ones.

Each session owns one `Playground` (looked up by the session's id); nothing is shared between sessions. The pool
is bounded: a network idle for `idle_s` is dropped, so is one whose session has closed (`sweep`), and beyond
`max_sessions` the least recently seen goes first.
One trainer thread serves every playing session in turn, a slice of about `slice_s` seconds each, so however many
learners press Play, training takes at most one core and the pages' redraws keep the others. A session plays only
while its page keeps asking (`play` renews a lease of `lease_s`): a closed tab stops training within seconds.
No Streamlit here.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.lessons.playground.live import Playground


@dataclass
class _Entry:
    playground: Playground
    seen: float  # monotonic time the session last looked
    owner: str = ""  # the server's id of the session (its connection), to drop networks of closed ones
    playing_until: float = 0.0  # its lease: trained while now < this

    def playing(self) -> bool:
        return self.playing_until > time.monotonic()


class Pool:
    def __init__(self, max_sessions: int = 32, idle_s: float = 1800.0, lease_s: float = 3.0,
                 slice_s: float = 0.05, yield_s: float = 0.25) -> None:
        self.max_sessions, self.idle_s, self.lease_s, self.slice_s = max_sessions, idle_s, lease_s, slice_s
        self.yield_s = yield_s  # the longest the trainer waits for pages drawing before its next epoch
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._drawing = 0  # pages drawing (or queued to) right now
        self._quiet = threading.Event()  # set while none is
        self._quiet.set()
        self._one_redraw = threading.RLock()  # a page's full run and the fragment inside it hold it in one thread
        self._asked = threading.local()  # per script thread: how deep in drawing(), and since when

    # ------------------------------------------------------------ sessions
    def get(self, session: str) -> Playground | None:
        with self._lock:
            self._drop_idle()
            entry = self._entries.get(session)
            if entry is None:
                return None
            entry.seen = time.monotonic()
            self._entries.move_to_end(session)
            return entry.playground

    def put(self, session: str, playground: Playground, owner: str = "") -> None:
        """Give `session` this network (replacing its old one, which stops playing)."""
        with self._lock:
            self._entries[session] = _Entry(playground, time.monotonic(), owner)
            self._entries.move_to_end(session)
            self._drop_idle()
            while len(self._entries) > self.max_sessions:
                self._entries.popitem(last=False)

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for session in [s for s, e in self._entries.items() if now - e.seen > self.idle_s]:
            del self._entries[session]

    def sweep(self, alive: Callable[[str], bool], grace_s: float = 60.0) -> int:
        """Drop the networks of sessions whose connection is gone (`alive(owner)` False) and that have not looked
        for `grace_s` (a reconnecting tab keeps its network); returns how many were dropped."""
        now = time.monotonic()
        with self._lock:
            gone = [s for s, e in self._entries.items() if e.owner and now - e.seen > grace_s and not alive(e.owner)]
            for session in gone:
                del self._entries[session]
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # ------------------------------------------------------------ playing
    def play(self, session: str) -> None:
        """Train `session`'s network for the next `lease_s` seconds (call again to go on)."""
        with self._wake:
            entry = self._entries.get(session)
            if entry is None:
                return
            entry.playing_until = entry.seen = time.monotonic()
            entry.playing_until += self.lease_s
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._train_forever, name="playground-trainer", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def pause(self, session: str) -> None:
        """Stop training `session`'s network: once this returns, the epoch that was under way has ended and no
        other starts, so what the page draws next is where it stopped (Step then adds exactly one)."""
        with self._lock:
            entry = self._entries.get(session)
            if entry is None:
                return
            entry.playing_until = 0.0
        with entry.playground.lock:  # the trainer asks `playing_until` under this lock before each epoch
            pass

    def playing(self, session: str) -> bool:
        with self._lock:
            entry = self._entries.get(session)
            return entry is not None and entry.playing()

    @contextmanager
    def drawing(self) -> Iterator[float]:
        """Around a page's redraw; yields the perf_counter time this thread first asked (the wait included).
        One redraw at a time: redraws are interpreter-bound, so interleaved they only all get slower, while queued
        each takes its own time, and pages that pressed Play in the same instant start their redraw timers one
        redraw apart instead of colliding twice a second for ever. And the trainer starts no new epoch meanwhile
        (for up to `yield_s`), so a redraw does not queue behind training (bench/NOTES.md)."""
        depth = getattr(self._asked, "depth", 0)
        if not depth:
            self._asked.since = time.perf_counter()
            with self._lock:
                self._drawing += 1
                self._quiet.clear()
        self._asked.depth = depth + 1
        try:
            with self._one_redraw:
                yield self._asked.since
        finally:
            self._asked.depth = depth
            if not depth:
                with self._lock:
                    self._drawing -= 1
                    if not self._drawing:
                        self._quiet.set()

    def _due(self) -> list[_Entry]:
        return [e for e in self._entries.values() if e.playing() and not e.playground.stopped]

    def _train_forever(self) -> None:
        while True:
            with self._wake:
                due = self._due()
                while not due:
                    self._wake.wait(timeout=self.lease_s)
                    due = self._due()
            for entry in due:  # one slice each, in turn, epoch by epoch, redraws first
                deadline = time.monotonic() + self.slice_s
                while True:
                    self._quiet.wait(self.yield_s)
                    if not entry.playground.train(1, go_on=entry.playing) or time.monotonic() >= deadline:
                        break
