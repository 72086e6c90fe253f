"""A fragment's rerun sent by the page a learner has just left is dropped, so it cannot blank the page they opened.

The race (Streamlit 1.67): a learner clicks another page in the sidebar and, before that page has drawn, the page
being left sends a fragment's rerun (an arrow key on a slider inside a fragment that still has focus, or a
fragment's timer: the Playground's ticks, a training's live curve). The server runs it after the new page's run;
the fragment is gone by then, so it draws nothing, but its start tells the browser that the old page is current
again: the browser clears the new page and leaves its main area blank until the next rerun. (Had it arrived
before the new page's run started, the two requests merge into a full run of the old page under the new address.)

Each session here remembers the page it is on: the page a full run was asked for by its hash (a sidebar link), or
the one `st.navigation` resolved (a first visit by address, `st.switch_page`). A fragment's rerun that names
another page is dropped: the new page's own run draws all it has.
"""
from __future__ import annotations

import logging

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession

PAGE = "_ptce_page"  # on each AppSession: the script hash of the page it is on ("" while not known)
INSTALLED = "_ptce_stale_reruns_installed"  # on the AppSession class: install() has run in this process
_LOG = logging.getLogger(__name__)


def resolved_page(msg: ForwardMsg) -> str | None:
    """The page `st.navigation` resolved in a full run, or None for any other message. (A run's start message names
    the main script, not the page, when the address named the page.)"""
    if msg.WhichOneof("type") != "navigation":
        return None
    return msg.navigation.page_script_hash or None


def is_stale(page: str, client_state: ClientState) -> bool:
    """A fragment's rerun named by a page other than `page` ("" = not known yet: every rerun is let through)."""
    asked = client_state.page_script_hash
    return bool(client_state.fragment_id and page and asked and asked != page)


def install() -> None:
    """Wrap this server's AppSession once (both hooks run on the server's event loop, so in the order sent)."""
    if getattr(AppSession, INSTALLED, False):
        return
    setattr(AppSession, INSTALLED, True)
    if not hasattr(AppSession, "_enqueue_forward_msg"):  # another Streamlit: without both hooks, drop nothing
        _LOG.warning("stale fragment reruns are not dropped: this Streamlit's AppSession has no _enqueue_forward_msg")
        return
    request_rerun, enqueue = AppSession.request_rerun, AppSession._enqueue_forward_msg

    def guarded_request_rerun(self: AppSession, client_state: ClientState | None) -> None:
        if client_state is not None:
            if is_stale(getattr(self, PAGE, ""), client_state):
                _LOG.info("dropped a rerun of fragment %s from a page this session has left", client_state.fragment_id)
                return
            if not client_state.fragment_id:
                setattr(self, PAGE, client_state.page_script_hash)  # "" when the address names the page: not known
        request_rerun(self, client_state)

    def noting_enqueue(self: AppSession, msg: ForwardMsg) -> None:
        if (page := resolved_page(msg)) is not None:
            setattr(self, PAGE, page)
        enqueue(self, msg)

    AppSession.request_rerun = guarded_request_rerun
    AppSession._enqueue_forward_msg = noting_enqueue
