"""Markdown and HTML from outside are shown as text (BAD_INPUTS 28): page addresses, run names, names inside an
imported archive. Every page is opened with links, images and tags in every address parameter, and the Training
runs page with them in run names (table, curves, the delete confirmation and its notice); no element may carry
live link, image or tag syntax, and no Plotly label a tag. The browser test then checks the real page: no link or
image to an outside host in the document, and no request leaves this machine."""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator

import plotly.io
import pytest
from streamlit.testing.v1 import AppTest

from core.runs.names import MAX_NAME, RunNames
from core.runs.store import RunStore
from support import PAGE_FILES, drawn, entry_app, own_home, page_app, rerun
from tools.fake_runs import synthetic_run

EVIL = "evil.test"
# One of each construct that would make a live link, fetch an image or insert a tag; a backtick and a quote to break
# out of a code span or an attribute; Streamlit's own directives. Each at most 80 characters (a run name's limit).
PAYLOADS = (
    f"`[x](http://{EVIL}/a) ![i](http://{EVIL}/i.png)` **b** :red[r] $x$",
    f"<a href='http://{EVIL}/t'>t</a><img src=//{EVIL}/p><b>B</b>",
    f"www.{EVIL} http://{EVIL}/u a@{EVIL} <http://{EVIL}/v>",
)
STACK = f"i![a](//{EVIL}/p.png)"  # the layer builder echoes 20 characters of a bad token: this is 20
# Every parameter the pages write into their address as this test opens them (a store of three runs, every control
# at its default); the AppTest check fails naming any parameter a page writes that is missing here.
ADDRESS_KEYS = (
    "T", "a", "a_dtype", "a_src", "act", "ag_tab", "all", "alpha", "at", "b", "b_dtype", "b_src", "batch", "beta",
    "bs", "cam_relu", "classes", "clip", "cnn", "code", "cond", "conv_tab", "data", "depth", "digit", "digits",
    "discretize", "edges", "ep", "features", "gb", "gt", "gw", "gx", "hidden", "hlr", "ig_base", "ig_steps", "labels",
    "layer", "loss", "loss_tab", "lr", "lr_adam", "lr_momentum", "lr_rmsprop", "lr_sgd", "ls_tab", "m_ep", "m_lr_adam",
    "m_lr_momentum", "m_lr_sgd", "m_mom", "mbatch", "methods", "model", "mom", "n", "net2", "noise", "occ_win", "op",
    "opt", "opt_tab", "opts", "outlier", "overlay", "page", "problem", "rate", "reg", "res", "route", "run", "seed",
    "sg_n", "sg_noise", "sign", "src", "stack", "steps", "strategy", "surface", "sx", "sy", "target", "test", "train",
    "typed", "x", "y", "z0", "z1", "z2")
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "title", "placeholder", "text"}  # rendered as markdown

_LINK = re.compile(r"(?<!\\)\]\s*\([^)]*" + re.escape(EVIL))  # [text](…evil…) or ![alt](…evil…)
_TAG = re.compile(r"(?i:(?<!\\)<\s*(a|img|script|iframe)\b[^>]*" + re.escape(EVIL) + r")|(?<!\\)<b>B</b>")
_BARE = re.compile(r"(https?:/|www\.|@)" + re.escape(EVIL))  # GFM autolinks of bare addresses


def live_markup(text: str) -> list[str]:
    """What in `text` (markdown source) would render as a link, an image or a tag from outside."""
    return [m.group(0) for p in (_LINK, _BARE, _TAG) for m in p.finditer(text)]


def _strings(message, fields=MARKDOWN_FIELDS) -> Iterator[str]:
    """Every markdown-rendered string field of a proto message, nested messages included."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for v in values:
            if field.type == field.TYPE_MESSAGE:
                yield from _strings(v, fields)
            elif field.type == field.TYPE_STRING and field.name in fields:
                yield v


def _nodes(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def rendered_markup(at: AppTest) -> list[str]:
    """Live links, images and tags from outside anywhere on the page: markdown fields of every element, and the
    labels of every Plotly figure (Plotly reads tags in names, titles, annotations and hover text)."""
    found = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        found += [f"{node.type}: {hit}" for text in _strings(proto) for hit in live_markup(text)]
        if node.type == "plotly_chart":
            spec = plotly.io.from_json(node.proto.spec).to_plotly_json()
            found += [f"figure: {m.group(0)}" for text in _json_strings(spec) for m in _TAG.finditer(text)]
    return found


def _json_strings(obj) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _json_strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _json_strings(v)


def test_the_checker_sees_what_would_render():
    assert live_markup(f"Ignored `lr=`[x](http://{EVIL}/a)`") and live_markup(f"<img src=//{EVIL}/p>")
    assert live_markup(f"see www.{EVIL}") and live_markup("**<b>B</b>**")
    from ui.text import md

    assert not any(live_markup(md(p)) for p in PAYLOADS + (STACK,))
    assert all(len(p) <= MAX_NAME for p in PAYLOADS)


def _address(turn: int, rotate: bool = False) -> dict[str, str]:
    """Every parameter set to payload `turn` (the AppTest check: every parameter gets every payload); with `rotate`,
    the payloads take turns over the parameters starting at `turn` (the browser opens each page once, with turn =
    the page's index: a page with three parameters or more gets all three payloads in one load)."""
    return {k: STACK if k == "stack" else PAYLOADS[(turn + (j if rotate else 0)) % len(PAYLOADS)]
            for j, k in enumerate(ADDRESS_KEYS)}


@pytest.mark.parametrize("page", PAGE_FILES)
def test_no_page_renders_markup_from_its_address(page, tmp_path):
    with own_home(tmp_path):
        _named_store(tmp_path / "runs")
        for turn in range(len(PAYLOADS)):
            at = entry_app()
            for k, v in _address(turn).items():
                at.query_params[k] = v
            at.switch_page(page)
            rerun(at)
            assert not rendered_markup(at), (page, PAYLOADS[turn], rendered_markup(at))
            unattacked = set(at.query_params) - set(ADDRESS_KEYS)  # the page writes each parameter it reads
            assert not unattacked, f"add {sorted(unattacked)} to ADDRESS_KEYS"


def _named_store(root) -> list[str]:
    """Three runs named with the payloads; returns their keys in payload order."""
    store = RunStore(root)
    runs = [synthetic_run(i) for i in range(3)]
    for run in runs:
        store.save(run)
    names = RunNames(root)
    for run, payload in zip(runs, PAYLOADS):
        assert names.set(run.config.key(), payload) == payload
    return [run.config.key() for run in runs]


def test_run_names_and_archive_entries_are_shown_as_text(tmp_path):
    with own_home(tmp_path):
        keys = _named_store(tmp_path / "runs")
        at = page_app("runs")  # the three runs are ticked: their names are the curves' legend
        assert set(at.data_editor[0].value["name"]) == set(PAYLOADS) and at.get("plotly_chart")
        assert not rendered_markup(at), rendered_markup(at)
        at.selectbox(key="runs_cmp_a").set_value(keys[0])
        at.selectbox(key="runs_cmp_b").set_value(keys[1])
        rerun(at)
        assert not rendered_markup(at), rendered_markup(at)
        for key in keys:  # the confirmation and the notice name the run
            at.selectbox(key="runs_pick").set_value(key)
            at.button(key="runs_delete").click()
            rerun(at)
            assert any("Delete" in w.value for w in at.warning) and not rendered_markup(at), rendered_markup(at)
            at.button(key="runs_delete_yes").click()
            rerun(at)
            assert any("Deleted" in s.value for s in at.success) and not rendered_markup(at), rendered_markup(at)
        for payload in PAYLOADS:  # an archive whose entry names are markup: the refusal quotes them
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr(payload, b"{}")
                zf.writestr("weights.safetensors", b"x")
            at.file_uploader(key="runs_import").set_value((f"{payload}.zip", buf.getvalue(), "application/zip"))
            rerun(at)
            assert any("Not imported" in e.value for e in at.error) and not rendered_markup(at), rendered_markup(at)


# ---------------------------------------------------------------- in a real browser
HOSTILE_ATTRIBUTES = ("href", "src", "srcset", "xlink:href", "action", "formaction", "poster", "data")
_OUTSIDE = """([evil, names]) => [...document.querySelectorAll('*')].flatMap(el =>
    names.map(n => el.getAttribute(n) || el.getAttributeNS('http://www.w3.org/1999/xlink', n.split(':').pop()) || '')
         .filter(v => v.includes(evil)).map(v => el.tagName + ' ' + v))"""


@pytest.mark.slow
@pytest.mark.browser
def test_the_browser_shows_outside_text_as_text_and_asks_no_other_host(page, tmp_path):
    from urllib.parse import urlencode, urlsplit

    from tools.app_server import running_server
    from tools.browser import exceptions

    _named_store(tmp_path / "runs")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    with running_server(tmp_path, timeout_s=120) as (_, url):
        local = urlsplit(url).netloc
        for turn, name in enumerate(p.removeprefix("pages/").removesuffix(".py") for p in PAGE_FILES):
            path = "" if name == "home" else name
            page.goto(f"{url}/{path}?{urlencode(_address(turn, rotate=True))}")
            drawn(page, f"pages/{name}.py", timeout_ms=180_000)
            outside = page.evaluate(_OUTSIDE, [EVIL, list(HOSTILE_ATTRIBUTES)])
            assert not outside, (name, outside)
            assert exceptions(page) == 0, name  # every page's first visit by its address, in Chromium
            if name == "runs":  # the run names in the curves' legend are text, not SVG links or bold
                page.locator(".legendtext").first.wait_for(timeout=180_000)
                legend = page.locator(".legendtext").all_text_contents()
                assert set(PAYLOADS) <= set(legend), legend
            elif name != "home":  # the address's text arrived, and is shown as text
                assert EVIL in page.locator("body").inner_text(), name
    far = [u for u in requests if urlsplit(u).netloc != local and not u.startswith(("data:", "blob:"))]
    assert not far, far[:5]
    json.dumps(requests[:1])
