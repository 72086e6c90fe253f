"""A fragment's rerun sent by the page a learner is leaving (an arrow key on a slider that still has focus, a
fragment's timer) must not blank the page they open: found by the load test, a blank main area under load. A
fragment's rerun from the page the learner is on still runs, also on a page opened by its address."""
from __future__ import annotations

import pytest
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tools.headless_session import HeadlessSession
from ui.stale_reruns import is_stale, resolved_page


@pytest.mark.slow
def test_a_fragment_rerun_from_the_page_left_does_not_blank_the_page_opened(server_with_runs):
    with HeadlessSession(f"{server_with_runs}/") as first:  # a server's first visit reruns once (ui/shell.py)
        first.wait_until(lambda: first.runs_finished, "the first visit", 300)
    with HeadlessSession(f"{server_with_runs}/optimizers") as s:  # opened by its address, as a link does
        s.wait_until(lambda: s.fragments and s.runs_finished, "the Optimizers page with its fragment", 300)
        optimizers, fragment = s.pages["optimizers"], sorted(s.fragments)[0]  # the surface race: sliders in it
        left = (optimizers, s.query_string)

        # Runs are counted before asking for one: a run can end before this thread sees it start (a count taken
        # after the page's title once waited for an end that had already come, until the timeout).
        started, finished = len(s.started), s.runs_finished
        s.rerun_fragment(fragment)  # the learner moves a slider of the fragment: it reruns alone
        s.wait_until(lambda: len(s.started) > started, "the fragment's run", 300)
        assert s.started[started] == (optimizers, True)
        s.wait_until(lambda: s.runs_finished > finished, "the end of the fragment's run", 300)

        started, drawn, finished = len(s.started), len(s.texts), s.runs_finished
        s.goto("convolutions")  # the sidebar link, then at once the old page's slider
        s.rerun_fragment(fragment, page=left)
        s.wait_for("Convolutions", 300, since=drawn)
        s.wait_until(lambda: s.runs_finished > finished, "the end of the Convolutions run", 300)

        drawn = len(s.texts)  # a probe: a run asked now starts after any run the server had queued before it
        s.goto("convolutions")
        s.wait_for("Convolutions", 300, since=drawn)
        conv = (s.pages["convolutions"], False)
        assert s.started[started:] == [conv, conv], "a run of the page left started after the new page's"
        assert s.exceptions == 0


@pytest.mark.parametrize(("page", "asked", "fragment", "stale"), [
    ("conv", "optim", "f1", True),  # the race: the page left names itself
    ("conv", "conv", "f1", False),  # a fragment of the page shown
    ("conv", "optim", "", False),  # a full run of another page: a sidebar link
    ("", "optim", "f1", False),  # no page known yet (a first visit names its page by address)
    ("conv", "", "f1", False),  # a rerun that names no page
])
def test_only_a_fragment_rerun_naming_another_page_is_stale(page, asked, fragment, stale):
    state = ClientState(page_script_hash=asked, fragment_id=fragment)
    assert is_stale(page, state) is stale


def test_the_page_is_the_one_navigation_resolved():
    navigation, start, delta = ForwardMsg(), ForwardMsg(), ForwardMsg()
    navigation.navigation.page_script_hash = "conv"
    start.new_session.page_script_hash = "main"  # a run started by address names the main script
    delta.delta.new_element.markdown.body = "text"
    assert [resolved_page(m) for m in (navigation, start, delta)] == ["conv", None, None]
