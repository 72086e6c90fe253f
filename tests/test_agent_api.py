"""Streamlit's agent API (`server.enableAgentApi`: any program that reaches the app could drive sessions over HTTP)
stays off in this app: its config does not turn it on, and a server started the app's way says so. The tests and
the bench drive servers with tools/headless_session.py instead, which says why."""
from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request

import pytest

from support import ROOT
from tools.app_server import running_server


def test_the_apps_config_does_not_turn_the_agent_api_on():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = {k.lower(): v for k, v in config.get("server", {}).items()}  # `server.enableAgentApi = x` lands here too
    assert server.get("enableagentapi", False) is False, server


def _answer(url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
def test_a_server_started_the_apps_way_answers_the_agent_api_as_off(tmp_path):
    # The app's own config only: a STREAMLIT_SERVER_ENABLE_AGENT_API in this shell is not part of the app
    with running_server(tmp_path, env={"STREAMLIT_SERVER_ENABLE_AGENT_API": None}) as (_, url):
        status, document = _answer(f"{url}/_stcore/agent/openapi.json")  # served either way; it says which
        assert status == 200 and document["info"]["x-streamlit-agent-api"] == "disabled", document["info"]
        status, refusal = _answer(f"{url}/_stcore/agent/interact", b"{}")
        assert status == 403 and refusal["error"]["code"] == "not_available", refusal
        status, _ = _answer(f"{url}/_stcore/agent/mcp", b'{"jsonrpc": "2.0", "id": 1, "method": "initialize"}')
        assert status == 400  # the MCP route refuses every message
