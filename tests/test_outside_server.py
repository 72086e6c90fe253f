"""Another web page talking to the local server (BAD_INPUTS 29). DNS rebinding: a page on a name the attacker
controls resolves that name to 127.0.0.1, and the learner's browser then opens the app's websocket with that
name in `Host` (and as its own `Origin`, so the origin check sees a same-origin request). server.allowedHosts
in .streamlit/config.toml refuses every name but this machine's; localhost and 127.0.0.1 still work."""
from __future__ import annotations

import socket
import tomllib
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support import ROOT


def test_the_config_names_only_this_machine():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert sorted(server["allowedHosts"]) == sorted(["localhost", "127.0.0.1", "::1"])
    assert server["address"] == "localhost" and server["enableXsrfProtection"] is True


def handshake(port: int, host: str) -> int:
    """Open the app's websocket on 127.0.0.1:`port` as a page on `host` would (Host and Origin of that name):
    101 when the server accepts it, else the HTTP status it answers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        with connect(f"ws://{host}:{port}/_stcore/stream", sock=sock, origin=f"http://{host}:{port}",
                     subprotocols=["streamlit"], open_timeout=30):
            return 101
    except InvalidStatus as e:
        return e.response.status_code
    finally:
        sock.close()


@pytest.mark.slow
def test_a_websocket_from_another_name_is_refused(app_server):  # the suite's shared server: nothing is changed
    port = urlsplit(app_server).port
    assert handshake(port, "localhost") == 101
    assert handshake(port, "127.0.0.1") == 101
    for name in ("rebind.evil.test", "localhost.evil.test", "127.0.0.1.nip.io"):
        assert handshake(port, name) == 403, name
