"""A Streamlit session without a browser: it speaks the app's websocket protocol (protobuf BackMsg /
ForwardMsg on `/_stcore/stream`) the way Streamlit's frontend does, and renders nothing.

The load bench uses it to put sessions on a server without putting their browser tabs on the same two
cores: a Chromium tab redrawing a live Plotly chart four times a second costs more CPU than the server and
the training worker together, so browser sessions on the bench machine measure the browser. What the
server sees from a headless session is what it sees from a tab: the first run of a page with its query
string, a click as a widget trigger, and the frontend's timer-driven fragment reruns (`run_every`), sent
every interval whether or not a run is in progress, and cancelled by the next full run, as the frontend does.

Why not Streamlit's agent API (`--server.enableAgentApi`, off in this app's config: tests/test_agent_api.py). It
opens a page with its query string, reads every element, presses a button and waits for the run to settle, but it
never runs a `run_every` fragment: a request with no widget change is a full rerun, a fragment reruns alone only
when a widget inside it is written (the progress fragment's only one is Stop training), and no websocket can join
an agent session to send the timer's reruns. A session watching a run (ui/training.py) would have to poll with full
reruns: the fragment that sees the run land and reruns the page would never run, and the server would do work no
browser asks for (a full page each poll, plus a description of every element in each answer). So the fragment
timers need this client, and with them the whole session does.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

TEXT_FIELDS = {"markdown": "body", "alert": "body", "button": "label", "heading": "body", "text": "body",
               "exception": "message", "page_link": "label"}  # element type -> the field holding what a learner reads


class HeadlessSession:
    """One session on `url` (a page URL with its query string). `texts` holds every text the server has
    drawn so far, `buttons` maps a button's label to its widget id, `exceptions` counts tracebacks."""

    def __init__(self, url: str, timeout_s: float = 60.0):
        parts = urlsplit(url)
        self.page_name = parts.path.strip("/")
        self.query_string = parts.query
        self.page_script_hash = ""
        self.texts: list[str] = []
        self.buttons: dict[str, str] = {}
        self.exceptions = 0
        self.pages: dict[str, str] = {}  # a page's address ("convolutions") -> its script hash
        self.fragments: set[str] = set()  # ids of the fragments drawn so far
        self.started: list[tuple[str, bool]] = []  # each run the server started: (the page it names, a fragment's?)
        self.runs_finished = 0
        self.running = False  # a run has started and not yet finished
        self.reruns_sent = 0
        self._changed = threading.Condition()
        self._timers: dict[str, tuple[threading.Event, float]] = {}  # fragment id -> its timer's (stop, interval)
        self._timers_lock = threading.Lock()
        self._closed = threading.Event()
        self._ws = connect(f"ws://{parts.netloc}/_stcore/stream", subprotocols=["streamlit"],
                           origin=f"{parts.scheme}://{parts.netloc}", open_timeout=timeout_s,
                           max_size=None, compression=None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._rerun()

    # ------------------------------------------------------------------ what the frontend sends
    def _rerun(self, fragment_id: str = "", trigger: str = "", auto: bool = False,
               page: tuple[str, str] | None = None) -> None:
        """`page`: (script hash, query string) to name instead of this session's (what a tab still showing a
        page it is leaving sends)."""
        msg = BackMsg()
        state = msg.rerun_script
        state.page_script_hash, state.query_string = page or (self.page_script_hash, self.query_string)
        state.page_name = "" if state.page_script_hash else self.page_name
        state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        state.context_info.url = f"/{self.page_name}"
        if trigger:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = trigger, True
        try:
            self._ws.send(msg.SerializeToString())
            self.reruns_sent += 1
        except Exception:  # closed meanwhile: a timer outliving the session
            self._closed.set()

    def click(self, label: str) -> None:
        """Press the button drawn with this label (as a click does: one trigger, then a rerun)."""
        self._rerun(trigger=self.buttons[label])

    def goto(self, path: str) -> None:
        """Open another page of the app as the sidebar's link does (its address, no query string)."""
        self.page_name, self.page_script_hash, self.query_string = path, self.pages[path], ""
        self._rerun()

    def rerun_fragment(self, fragment_id: str, page: tuple[str, str] | None = None) -> None:
        """What a widget inside a fragment sends when it changes (named by `page`, see `_rerun`)."""
        self._rerun(fragment_id, page=page)

    def _auto_rerun(self, fragment_id: str, interval_s: float) -> None:
        """As the frontend's handleAutoRerun: a fragment that has a timer at this interval keeps it (every run of
        the fragment sends the message again; the timer's phase is set by the first), else a new setInterval."""
        stop = threading.Event()
        with self._timers_lock:
            if (old := self._timers.get(fragment_id)) is not None:
                if old[1] == interval_s:
                    return
                old[0].set()
            self._timers[fragment_id] = (stop, interval_s)

        def tick() -> None:
            while not stop.wait(interval_s) and not self._closed.is_set():
                self._rerun(fragment_id, auto=True)

        threading.Thread(target=tick, daemon=True).start()

    def _clear_timers(self) -> None:
        with self._timers_lock:
            for stop, _ in self._timers.values():
                stop.set()
            self._timers.clear()

    # ------------------------------------------------------------------ what the server sends
    def _read(self) -> None:
        try:
            for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except Exception:  # the connection closed
            pass
        finally:
            self._closed.set()
            self._clear_timers()
            with self._changed:
                self._changed.notify_all()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":  # a run starts; a full one (no fragment ids) cancels the fragment timers
            with self._changed:
                self.started.append((msg.new_session.page_script_hash, bool(msg.metadata.run.fragment_ids)))
                self.running = True
                self._changed.notify_all()
            if not msg.metadata.run.fragment_ids:
                self._clear_timers()
        elif kind == "navigation":  # the page st.navigation resolved: later reruns name it by hash
            self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
            self.pages.update({p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages})
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "auto_rerun" and msg.auto_rerun.fragment_id:
            self._auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            if msg.delta.fragment_id:
                self.fragments.add(msg.delta.fragment_id)
            element = msg.delta.new_element
            etype = element.WhichOneof("type")
            if etype in TEXT_FIELDS:
                text = getattr(getattr(element, etype), TEXT_FIELDS[etype])
                with self._changed:
                    self.texts.append(text)
                    if etype == "button":
                        self.buttons[text] = element.button.id
                    self.exceptions += etype == "exception"
                    self._changed.notify_all()
        elif kind == "script_finished":
            with self._changed:
                self.runs_finished += 1
                self.running = False
                self._changed.notify_all()

    # ------------------------------------------------------------------ waiting
    def wait_for(self, what: str | re.Pattern, timeout_s: float = 600.0, since: int = 0) -> float:
        """Block until a text drawn after the first `since` texts matches `what` (a substring or a pattern);
        returns the time it was seen (perf_counter)."""
        pattern = what if isinstance(what, re.Pattern) else re.compile(re.escape(what))
        self.wait_until(lambda: any(pattern.search(t) for t in self.texts[since:]), repr(pattern.pattern), timeout_s)
        return time.perf_counter()

    def wait_for_button(self, label: str, timeout_s: float = 600.0) -> None:
        self.wait_until(lambda: label in self.buttons, f"a {label!r} button", timeout_s)

    def wait_until(self, done: Callable[[], bool], what: str, timeout_s: float = 600.0) -> None:
        """Block until `done()` holds, asked again after each message that changes what this session has seen."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not done():
                if self._closed.is_set():
                    raise ConnectionError(f"the session closed before {what} was drawn; {self.state()}")
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"{what} not drawn within {timeout_s:.0f} s; {self.state()}")

    def state(self) -> str:
        """What this session has seen, for a failure message: a silent server reads differently from a page
        that drew something else."""
        return (f"session {'closed' if self._closed.is_set() else 'open'}, {self.reruns_sent} reruns sent, "
                f"{self.runs_finished} runs finished, {len(self.texts)} texts drawn, the last: {self.texts[-4:]!r}")

    def close(self) -> None:
        self._closed.set()
        self._clear_timers()
        self._ws.close()
        self._reader.join(5)

    def __enter__(self) -> HeadlessSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
