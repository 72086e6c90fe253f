"""A fragment's rerun sent by the page a learner is leaving (an arrow key on a slider that still has focus, a
fragment's timer) must not blank the page they open: found by the load test, a blank main area under load."""
from __future__ import annotations

import pytest
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tools.headless_session import HeadlessSession
from ui.stale_reruns import is_full_run_start, is_stale


@pytest.mark.slow
def test_a_fragment_rerun_from_the_page_left_does_not_blank_the_page_opened(server_with_runs):
    with HeadlessSession(f"{server_with_runs}/optimizers") as s:
        s.wait_until(lambda: s.fragments and s.runs_finished, "the Optimizers page with its fragment", 300)
        left = (s.page_script_hash, s.query_string)
        fragment = sorted(s.fragments)[0]  # the surface race, a fragment with sliders in it
        started, drawn = len(s.started), len(s.texts)

        s.goto("convolutions")  # the sidebar link, then at once the old page's slider
        s.rerun_fragment(fragment, page=left)
        s.wait_for("Convolutions", 300, since=drawn)
        finished = s.runs_finished
        s.wait_until(lambda: s.runs_finished > finished, "the end of the Convolutions run", 300)

        drawn = len(s.texts)  # a probe: a run asked now starts after any run the server had queued before it
        s.goto("convolutions")
        s.wait_for("Convolutions", 300, since=drawn)
        conv = s.pages["convolutions"]
        assert s.started[started:] == [conv, conv], "a run of the page left started after the new page's"
        assert s.exceptions == 0


@pytest.mark.parametrize(("page", "asked", "fragment", "stale"), [
    ("conv", "optim", "f1", True),  # the race: the page left names itself
    ("conv", "conv", "f1", False),  # a fragment of the page shown
    ("conv", "optim", "", False),  # a full run of another page: a sidebar link
    ("", "optim", "f1", False),  # no page known yet (the first run names the page by its address)
    ("conv", "", "f1", False),  # a rerun that names no page
])
def test_only_a_fragment_rerun_naming_another_page_is_stale(page, asked, fragment, stale):
    state = ClientState(page_script_hash=asked, fragment_id=fragment)
    assert is_stale(page, state) is stale


def test_a_full_run_start_is_a_new_session_without_fragments():
    full, fragment, delta = ForwardMsg(), ForwardMsg(), ForwardMsg()
    full.new_session.page_script_hash = fragment.new_session.page_script_hash = "conv"
    fragment.metadata.run.fragment_ids.append("f1")
    delta.delta.new_element.markdown.body = "text"
    assert [is_full_run_start(m) for m in (full, fragment, delta)] == [True, False, False]
