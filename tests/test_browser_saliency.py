"""Chromium (Debian's, through Playwright) on a freshly started server: the Saliency page explains an uploaded PNG
(an overlay appears, no exception), and raw requests to Streamlit's upload endpoint that bypass the page's
file uploader are refused.

Streamlit's endpoint is PUT /_stcore/upload_file/<session_id>/<file_id> (streamlit/web/server/starlette/
starlette_routes.py): XSRF token checked first (403), the session must be live (400), the body is capped at
server.maxUploadSize from .streamlit/config.toml (413), and any other method (POST) is not routed (405). File
types are checked twice before the app reads a byte: by the browser's uploader, which does not send a disallowed
file, and on the server when a widget value names a file (enforce_filename_restriction); the page then decodes
by content (core/uploads.py).
"""
import conv_fixtures  # noqa: F401  (offline, temp home)

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import running_server
from conv_fixtures import ensure_tiny_runs

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXCEPTION = "[data-testid='stException']"


@pytest.fixture(scope="module")
def server_with_runs():
    ensure_tiny_runs()
    with running_server(Path(os.environ["PTCE_HOME"])) as url:
        yield url


def digit_png() -> bytes:
    """A test digit as a learner would photograph it: dark ink on white paper, 120×120 RGB."""
    from core.data import load_sample

    ink = np.asarray(Image.fromarray(load_sample().test.images[0].numpy()).resize((120, 120)), np.float32)
    buf = io.BytesIO()
    Image.fromarray((255 - ink * 0.8).astype(np.uint8)).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def max_upload_mb() -> int:
    import tomllib

    return int(tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"])


def test_upload_a_png_and_see_the_overlay_and_raw_uploads_are_refused(browser, server_with_runs):
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    errors: list[str] = []
    puts: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: puts.append(r) if r.method == "PUT" and "/_stcore/upload_file/" in r.url else None)
    try:
        page.goto(server_with_runs + "/saliency")
        uploader = page.locator("input[type=file]")
        uploader.wait_for(state="attached", timeout=90_000)  # "Upload" is the default image source
        uploader.set_input_files(files=[{"name": "digit.png", "mimeType": "image/png", "buffer": digit_png()}])
        page.get_by_text("overlay (alpha").first.wait_for(timeout=120_000)
        assert page.locator(EXCEPTION).count() == 0 and not errors, errors
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "saliency-upload.png"), full_page=True)

        # The browser's own upload, to learn this session's live upload URL and XSRF token.
        assert len(puts) == 1
        url, token = puts[0].url, puts[0].headers["x-xsrftoken"]
        api = context.request  # shares the page's cookies, including Streamlit's XSRF cookie
        png = {"file": {"name": "digit.png", "mimeType": "image/png", "buffer": digit_png()}}
        html = {"file": {"name": "page.html", "mimeType": "text/html", "buffer": b"<script>alert(1)</script>"}}
        big = {"file": {"name": "big.png", "mimeType": "image/png",
                        "buffer": b"\0" * (max_upload_mb() * 1024 * 1024 + 1)}}
        other = url.rsplit("/", 1)[0] + "/forged-file-id"
        assert api.put(url, multipart=png).status == 403  # no XSRF token header: refused before reading the body
        assert api.put(other, multipart=png, headers={"X-Xsrftoken": "forged"}).status == 403
        assert api.post(url, multipart=png, headers={"X-Xsrftoken": token}).status == 405  # POST is not routed
        assert api.post(other, multipart=html, headers={"X-Xsrftoken": token}).status == 405
        assert api.put(other, multipart=big, headers={"X-Xsrftoken": token}).status == 413  # over maxUploadSize
        assert api.put(other, multipart=html).status == 403  # a disallowed type without the token
        dead = url.split("/_stcore/")[0] + "/_stcore/upload_file/not-a-session/x"
        assert api.put(dead, multipart=png, headers={"X-Xsrftoken": token}).status == 400  # no such session

        # A disallowed type through the page's own uploader is not even sent.
        uploader.set_input_files(files=[{"name": "page.html", "mimeType": "text/html",
                                         "buffer": b"<html><body>hi</body></html>"}])
        page.wait_for_timeout(2000)
        assert len(puts) == 1
        # Nothing reached the app: the explained digit is still on screen, no exception, no error message.
        assert page.get_by_text("overlay (alpha").count() >= 1
        assert page.locator(EXCEPTION).count() == 0 and not errors, errors
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
    finally:
        context.close()
