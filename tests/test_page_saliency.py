"""AppTest: the Saliency page explains a test digit, and every bad upload (BAD_INPUTS 1-9) gets a plain message
through the page's own file uploader, with the page still working afterwards."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from support import ensure_tiny_runs, own_home, rerun, selectbox_options, texts, tiny_config

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "saliency.py")


def png(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def bomb() -> bytes:
    data = bytearray(png(Image.new("L", (8, 8))))
    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    data[16:29], data[29:33] = ihdr, struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def digit_photo() -> bytes:
    from core.data.mnist import load_sample

    ink = np.asarray(Image.fromarray(load_sample().test.images[0].numpy()).resize((160, 160)), np.float32) / 255
    page = np.full((240, 200), 235.0)
    page[40:200, 20:180] -= ink * 180
    return png(Image.fromarray(page.astype(np.uint8)).convert("RGB"), "JPEG")


@pytest.fixture(scope="module")
def at():
    ensure_tiny_runs()
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def test_explains_a_test_digit_with_several_methods(at):
    at.radio(key="sal_source").set_value("MNIST test digit")
    rerun(at)
    at.multiselect(key="sal_methods").set_value(["saliency", "integrated_gradients", "occlusion"])
    rerun(at)
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(keys) >= 5  # top-5, side by side, one explanation per method
    assert any("What it computes" in m.value for m in at.markdown)
    assert "**ImageNet ResNet-18 weights** · 44.7 MB" in texts(at, "markdown")  # no weights offline: said so,
    assert "`python -m core.transfer.pretrained --download`" in texts(at, "caption")  # with the command
    at.slider(key="sal_alpha").set_value(0.3)
    rerun(at)  # a view change reuses the cached attribution (st.cache_data) and still draws


BAD = [
    ("cat.png", np.random.default_rng(0).bytes(3000), "not an image in a supported format"),
    ("cat.jpg", b"<!DOCTYPE html><html><body>hello</body></html>", "not an image in a supported format"),
    ("doc.jpg", b"%PDF-1.4\n%%EOF\n", "not an image in a supported format"),
    ("empty.png", b"", "empty"),
    ("one.png", b"\x89", "not an image"),
    ("cut.png", None, "cut off"),
    ("bomb.png", bomb(), "not opened"),
    ("tiny.png", png(Image.new("RGB", (1, 1))), "only 1×1"),
    ("strip.png", png(Image.new("RGB", (1, 5000))), "only 1×5000"),
    ("photo.png", png(Image.new("RGB", (64, 64)), "TIFF"), "not an image in a supported format"),
]


def test_bad_uploads_get_a_message_and_the_page_keeps_working(at):
    at.radio(key="sal_source").set_value("Upload")
    rerun(at)
    good = digit_photo()
    at.file_uploader(key="sal_upload").set_value(("digit.jpg", good, "image/jpeg"))
    rerun(at)
    assert not at.error and len(at.get("plotly_chart")) >= 2  # the photo is explained
    full = png(Image.new("RGB", (200, 150), (20, 40, 60)))
    for name, data, words in BAD:
        data = full[: len(full) // 2] if data is None else data
        at.file_uploader(key="sal_upload").set_value((name, data, "image/png"))
        rerun(at)
        assert any(words in e.value for e in at.error), (name, [e.value for e in at.error])
        assert any("previous image" in c.value for c in at.caption)  # the last good picture stays
        assert len(at.get("plotly_chart")) >= 2
    at.file_uploader(key="sal_upload").set_value(("digit.jpg", good, "image/jpeg"))
    rerun(at)
    assert not at.error


def labelled(at: AppTest, label: str):
    """The one selectbox with this label (the class and layer selectboxes are keyed by picture and model)."""
    found = [b for b in at.selectbox if b.label == label]
    assert len(found) == 1, [b.label for b in at.selectbox]
    return found[0]


def cell_of(option: str) -> tuple[int, int, int]:
    """'true 3 → predicted 5 (4 digits)' -> (3, 5, 4)."""
    return tuple(int(w) for w in option.replace("(", " ").split() if w.isdigit())


def test_a_view_change_does_not_attribute_again(at, monkeypatch):
    """Alpha, clipping and sign only redraw: the attribution runs once per (image, method), and the model's private
    twins are built once and reused by every method."""
    import ui.saliency as ui

    calls = {"attribute": 0, "twins": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(ui, "attribute", counted("attribute", ui.attribute))
    monkeypatch.setattr(ui, "twins", counted("twins", ui.twins))
    ui.explain.clear()
    ui._twins.clear()
    at.selectbox(key="sal_model").set_value(CNN)
    at.radio(key="sal_source").set_value("MNIST test digit")
    rerun(at)  # digit 0 with the methods an earlier test left chosen: the CNN's twins built once for all of them
    assert calls["twins"] == 1 and calls["attribute"] >= 1
    calls["attribute"] = 0
    at.number_input(key="sal_digit").set_value(11)
    at.multiselect(key="sal_methods").set_value(["saliency", "grad_cam"])
    rerun(at)
    assert calls == {"attribute": 2, "twins": 1}
    for widget, value in (("sal_alpha", 0.25), ("sal_clip", 95.0)):
        at.slider(key=widget).set_value(value)
        rerun(at)
    at.radio(key="sal_sign").set_value(at.radio(key="sal_sign").options[-1])
    rerun(at)
    assert calls == {"attribute": 2, "twins": 1}  # three view changes, nothing recomputed
    at.number_input(key="sal_digit").set_value(12)
    rerun(at)
    assert calls == {"attribute": 4, "twins": 1}  # a new image is attributed, on the same twins


def test_misclassified_cell_shows_its_digits_and_their_attributions(at):
    """The selectbox lists the model's off-diagonal confusion cells with counts equal to PyTorch's own predictions;
    picking one shows its digits and the first method's map for each, and explains the chosen digit."""
    import torch

    from core.config import Paths
    from core.data.mnist import load_sample, to_input
    from core.runs.store import RunStore
    from core.training.loop import load_model
    from support import tiny_config

    at.selectbox(key="sal_model").set_value(CNN)
    at.radio(key="sal_source").set_value("Misclassified digit")
    rerun(at)
    at.multiselect(key="sal_methods").set_value(["saliency"])
    rerun(at)
    run_ = RunStore(Paths.from_env().runs).load(tiny_config("cnn"))
    test = load_sample().test
    with torch.no_grad():
        preds = load_model(run_, "cpu")(to_input(test.images)).argmax(1)
    box = at.selectbox(key="sal_cell")
    assert box.options, "the tiny CNN makes mistakes on the sample's test digits"
    for option in box.options[:5]:
        t, p, n = cell_of(option)
        assert n == int(((test.labels == t) & (preds == p)).sum()) and t != p
    assert box.value == cell_of(box.options[0])[:2]  # the most frequent mistake first
    at.selectbox(key="sal_cell").set_value(cell_of(box.options[-1])[:2])
    rerun(at)
    t, p = at.selectbox(key="sal_cell").value
    digit = at.selectbox(key="sal_cell_digit").value
    assert int(test.labels[digit]) == t and int(preds[digit]) == p
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert any("sal_cell_images" in k for k in charts) and any("sal_cell_maps" in k for k in charts)
    assert any("sal_cm" in k for k in charts)



# ---------------------------------------------------------------- the page address
CNN = "mnist:" + tiny_config("cnn").key()  # the tiny CNN's model choice
LINK = {"model": CNN, "src": "MNIST test digit", "digit": "7", "methods": "saliency,integrated_gradients",
        "ig_steps": "20", "ig_base": "blurred", "sg_n": "4", "sg_noise": "0.3", "cam_layer": "conv1", "cam_relu": "0",
        "occ_win": "5", "sign": "absolute", "clip": "95", "alpha": "0.3"}


def address_of(at: AppTest) -> dict[str, str]:
    return {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}


def opened_at(query: dict[str, str]) -> AppTest:
    """A new session (a link, a reload) at this address, on the tiny CNN unless it names another model."""
    ensure_tiny_runs()
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params.update({"model": CNN, **query})
    return rerun(at)


def test_a_link_sets_the_controls_a_control_writes_the_address_and_an_early_stop_keeps_them():
    at = opened_at(LINK)
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert at.radio(key="sal_source").value == "MNIST test digit" and at.number_input(key="sal_digit").value == 7
    assert at.multiselect(key="sal_methods").value == ["saliency", "integrated_gradients"]
    assert (at.slider(key="sal_steps").value, at.selectbox(key="sal_baseline").value) == (20, "blurred")
    assert (at.slider(key="sal_samples").value, at.slider(key="sal_noise").value) == (4, 0.3)
    assert labelled(at, "Grad-CAM layer").value == "conv1" and at.checkbox(key="sal_relu").value is False
    assert at.slider(key="sal_win_28").value == 5 and at.radio(key="sal_sign").value == "absolute"
    assert (at.slider(key="sal_clip").value, at.slider(key="sal_alpha").value) == (95.0, 0.3)
    assert [h.value.split(" · ")[0] for h in at.subheader] == ["Saliency", "Integrated Gradients"]
    assert address_of(at) == LINK  # written back as read

    at.slider(key="sal_clip").set_value(97.5)
    at.multiselect(key="sal_methods").set_value(["grad_cam"])
    rerun(at)
    assert address_of(at) == {**LINK, "clip": "97.5", "methods": "grad_cam"}

    at.radio(key="sal_source").set_value("Upload")  # no picture yet: the run stops before the methods are drawn
    rerun(at)
    assert not at.subheader and not at.exception
    assert address_of(at) == {**{k: v for k, v in LINK.items() if k != "digit"}, "clip": "97.5",
                              "methods": "grad_cam", "src": "Upload"}
    at.radio(key="sal_source").set_value("MNIST test digit")
    rerun(at)
    assert at.multiselect(key="sal_methods").value == ["grad_cam"] and at.slider(key="sal_clip").value == 97.5
    assert at.slider(key="sal_steps").value == 20 and at.number_input(key="sal_digit").value == 7
    assert address_of(at) == {**LINK, "clip": "97.5", "methods": "grad_cam"}

    again = opened_at(address_of(at))  # a reload: a new session, the same address
    assert not again.warning and address_of(again) == address_of(at)
    assert again.multiselect(key="sal_methods").value == ["grad_cam"] and again.slider(key="sal_clip").value == 97.5


def test_the_model_is_in_the_address_and_one_no_longer_here_is_ignored():
    net2 = "mnist:" + tiny_config("net2").key()
    at = opened_at({"model": net2})
    assert at.selectbox(key="sal_model").value == net2 and address_of(at)["model"] == net2
    at.selectbox(key="sal_model").set_value(CNN)
    rerun(at)
    assert address_of(at)["model"] == CNN and at.selectbox(key="sal_model").value == CNN
    gone = opened_at({"model": "mnist:0123456789abcdef"})  # a link to a run deleted since: a stored model instead
    box = gone.selectbox(key="sal_model")
    assert not gone.exception and box.value.startswith("mnist:") and box.value != "mnist:0123456789abcdef"
    assert address_of(gone)["model"] == box.value
    said = [w.value for w in gone.warning if "0123456789abcdef" in w.value]
    assert len(said) == 1 and "in the page address" in said[0], [w.value for w in gone.warning]


def test_a_value_the_controls_do_not_offer_is_ignored_in_one_sentence():
    """occ_win=100 is a window ResNet-18's 224 px offer, not a 28 px digit model's (2-14); the rest are not values
    at all. Each is named once, the control keeps its default, nothing breaks."""
    at = opened_at({"src": "MNIST test digit", "occ_win": "100", "ig_steps": "900", "methods": "saliency,magic",
                    "sign": "sideways", "cam_layer": "layer4", "digit": "-3"})
    assert not at.exception and not at.error
    ignored = [w.value for w in at.warning if w.icon == ":material/link_off:"]
    assert len(ignored) == 6 and all("in the page address" in w for w in ignored), ignored
    assert at.slider(key="sal_win_28").value == 4 and at.slider(key="sal_steps").value == 50
    assert at.multiselect(key="sal_methods").value == ["saliency", "grad_cam"]
    assert at.radio(key="sal_sign").value == "both"
    assert labelled(at, "Grad-CAM layer").value == "relu2" and at.number_input(key="sal_digit").value == 0
    assert address_of(at)["occ_win"] == "4" and address_of(at)["methods"] == "saliency,grad_cam"
    assert len(at.subheader) == 2


# ---------------------------------------------------------------- stored transfer-learning runs
@pytest.fixture
def transfer_home(tmp_path, monkeypatch):
    """The page on a temp store holding tiny transfer runs (random weights, nothing trained): fine-tuning at 64 px
    (a whole model) and feature extraction at 32 px (a head on the stored digits pretraining)."""
    import ui.resources
    import ui.saliency
    import ui.saliency_inputs
    import ui.transfer
    from core.config import Paths
    from core.runs.store import RunStore
    from core.transfer.config import TransferConfig
    from core.transfer.tasks import pretraining_config
    from tools.fake_runs import make_transfer_run

    finetune = TransferConfig(strategy="finetune", resolution=64, epochs=1, head_lr=1e-3, backbone_lr=1e-4)
    feature = TransferConfig(strategy="feature", epochs=1)
    cifar = TransferConfig(strategy="full", source="cifar10", weights="imagenet", subset=20, epochs=1)
    store = RunStore(Paths(tmp_path).runs)
    for seed, cfg in enumerate((pretraining_config(), finetune, feature, cifar)):
        store.save(make_transfer_run(cfg, seed))
    caches = (ui.resources._loaded, ui.saliency._transfer_model, ui.saliency_inputs._transfer_predictions,
              ui.saliency.explain, ui.saliency._twins, ui.saliency.layers, ui.saliency.prediction)
    with own_home(tmp_path):
        for cache in caches:
            cache.clear()
        yield {"finetune": finetune, "feature": feature, "cifar": cifar, "store": store}
        for cache in caches:
            cache.clear()


@pytest.mark.slow
def test_a_stored_transfer_model_is_explained_and_left_untouched(transfer_home):
    """Both runs are listed in the transfer page's words; the 64 px fine-tuned model explains a test digit (its
    classes 5-9, Grad-CAM on layer4, the map the same as Captum's on the stored model); the 32 px feature-extraction
    model is the stored backbone plus its head, and its misclassified test digits match PyTorch's own predictions;
    a CIFAR-10 run sees a photo framed to 32 px, names CIFAR's classes and uses ImageNet's normalization;
    the shared cached models end with no hooks, no .grad, requires_grad off and eval mode."""
    from test_attribution import assert_untouched, snapshot

    import ui.saliency as ui
    from core.attribution.methods import AttributionSpec, attribute
    from core.data.cifar import CIFAR_CLASSES
    from core.data.mnist import load_sample
    from core.data.normalization import IMAGENET_NORM
    from core.transfer.features import normalization
    from core.transfer.model import predict as transfer_predict
    from core.transfer.tasks import digit_tasks, pretraining_config

    finetune, feature = transfer_home["finetune"], transfer_home["feature"]
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    box = at.selectbox(key="sal_model")
    cifar = transfer_home["cifar"]
    assert set(box.options) == {ui.transfer_label(c) for c in (finetune, feature, cifar)}  # no pretraining run
    assert "Fine-tune last 1 stage · pretrained here on digits 0-4 · digits 5-9, 20 labels/class · 64 px" \
        in ui.transfer_label(finetune)
    box.set_value("transfer:" + finetune.key())
    rerun(at)  # "Upload" with no file yet: the model is loaded, nothing attributed
    model = ui._transfer_model(finetune)
    before = snapshot(model)

    at.radio(key="sal_source").set_value("MNIST test digit")
    rerun(at)
    at.multiselect(key="sal_methods").set_value(["saliency", "grad_cam", "guided_backprop"])
    rerun(at)
    assert not at.error and not at.warning
    assert labelled(at, "Grad-CAM layer").value == "layer4"  # 2×2 at 64 px: Grad-CAM's ResNet default
    assert all(o[0] in "56789" for o in labelled(at, "Explain the class").options)
    assert "64×64 (MNIST-style digit padded to 32 px, resized to 64 px" in at.get("image")[0].captions[0]
    assert "`layer4` of this model: 512 maps of 2×2, upsampled to 64×64" in texts(at, "caption")
    assert "True label: **0** — not a class this model knows" in texts(at, "caption")  # test digit 0 is a 0
    titles = [h.value for h in at.subheader]
    assert len(titles) == 3 and all(" · class " in t for t in titles)
    choice = ui.transfer_choices()[0]["transfer:" + finetune.key()]
    prepared = ui.prepare(choice, load_sample().test.images[0].numpy())
    target = labelled(at, "Explain the class").value
    spec = AttributionSpec("grad_cam", layer="layer4")
    page_map = ui.explain(choice.key, prepared.digest, spec, target, model, prepared, choice.norm).values
    assert page_map.shape == (64, 64) and np.isfinite(page_map).all()
    assert np.allclose(page_map, attribute(model, prepared.pixels, spec, normalization(finetune), target).values,
                       atol=1e-6)

    at.selectbox(key="sal_model").set_value("transfer:" + feature.key())
    at.multiselect(key="sal_methods").set_value(["grad_cam"])
    rerun(at)
    assert labelled(at, "Grad-CAM layer").value == "layer3"  # layer4 is 1×1 at 32 px: said on the page
    assert any("cannot use layer4" in c.value for c in at.caption) and not at.error
    head = ui._transfer_model(feature)
    backbone = transfer_home["store"].load(pretraining_config()).state
    assert torch.equal(head.layer1[0].conv1.weight.cpu(), backbone["layer1.0.conv1.weight"])
    assert torch.equal(head.fc.weight.cpu(), transfer_home["store"].load(feature).state["fc.weight"])

    at.radio(key="sal_source").set_value("Misclassified digit")
    rerun(at)
    test = digit_tasks(load_sample(), feature.labels_per_class)[1].test
    preds = transfer_predict(head, test.images, feature)  # the stored model's own predictions
    cells = at.selectbox(key="sal_cell")
    assert cells.options, "a random head makes mistakes"
    for option in cells.options[:4]:
        t, p = ("56789".index(w) for w in option.split() if w in tuple("56789"))
        assert f"({int(((test.labels == t) & (preds == p)).sum())} digit" in option
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert any("sal_cell_maps" in k for k in charts) and not at.error

    at.selectbox(key="sal_model").set_value("transfer:" + cifar.key())  # CIFAR-10 itself is not on this machine
    at.radio(key="sal_source").set_value("MNIST test digit")
    rerun(at)
    assert at.radio(key="sal_source").options == ["Upload", "Sample photo", "MNIST test digit"]
    assert "(resized and centre-cropped to 32 px like a CIFAR-10 image)" in at.get("image")[0].captions[0]
    assert {o.split(" (")[0] for o in labelled(at, "Explain the class").options} == set(CIFAR_CLASSES)
    assert ui.transfer_choices()[0]["transfer:" + cifar.key()].norm == IMAGENET_NORM and not at.error

    assert_untouched(before, model)
    for m in (model, head):
        assert all(p.grad is None and not p.requires_grad for p in m.parameters()) and not m.training
        assert sum(len(x._forward_hooks) + len(x._backward_hooks) for x in m.modules()) == 0


# ---------------------------------------------------------------- in Chromium
# Chromium (Debian's, through Playwright) on a freshly started server: the Saliency page explains an uploaded PNG
# (an overlay appears, no exception), and raw requests to Streamlit's upload endpoint that bypass the page's
# file uploader are refused.
#
# Streamlit's endpoint is PUT /_stcore/upload_file/<session_id>/<file_id> (streamlit/web/server/starlette/
# starlette_routes.py): XSRF token checked first (403), the session must be live (400), the body is capped at
# server.maxUploadSize from .streamlit/config.toml (413), and any other method (POST) is not routed (405). File
# types are checked twice before the app reads a byte: by the browser's uploader, which does not send a disallowed
# file, and on the server when a widget value names a file (enforce_filename_restriction); the page then decodes
# by content (core/data/uploads.py).
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXCEPTION = "[data-testid='stException']"


def put_over_the_cap(url: str, cookies: str, token: str) -> int:
    """PUT a multipart body one byte over server.maxUploadSize straight over the loopback socket (Playwright's
    request API would carry the 64 MB through the browser protocol, 45 s); the server's status code."""
    import http.client
    from urllib.parse import urlsplit

    boundary = "ptce-over-the-cap"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = max_upload_mb() * 1024 * 1024 + 1
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.putrequest("PUT", parts.path)
        for name, value in (("Cookie", cookies), ("X-Xsrftoken", token), ("Content-Length", str(len(head) + size
                            + len(tail))), ("Content-Type", f"multipart/form-data; boundary={boundary}")):
            conn.putheader(name, value)
        conn.endheaders()
        try:
            conn.send(head)
            chunk = bytes(1 << 20)
            for start in range(0, size, len(chunk)):
                conn.send(chunk[:min(len(chunk), size - start)])
            conn.send(tail)
        except OSError:  # the server may answer and close before the body is all sent
            pass
        return conn.getresponse().status
    finally:
        conn.close()


def digit_png() -> bytes:
    """A test digit as a learner would photograph it: dark ink on white paper, 120×120 RGB."""
    from core.data.mnist import load_sample

    ink = np.asarray(Image.fromarray(load_sample().test.images[0].numpy()).resize((120, 120)), np.float32)
    buf = io.BytesIO()
    Image.fromarray((255 - ink * 0.8).astype(np.uint8)).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def max_upload_mb() -> int:
    import tomllib

    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]


@pytest.mark.browser
def test_upload_a_png_and_see_the_overlay_and_raw_uploads_are_refused(browser, server_with_runs):
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    errors: list[str] = []
    puts: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: puts.append(r) if r.method == "PUT" and "/_stcore/upload_file/" in r.url else None)
    try:
        page.goto(server_with_runs + "/saliency")
        page.get_by_text("Upload", exact=True).first.click(timeout=90_000)  # a digit model opens on a test digit
        uploader = page.locator("input[type=file]")
        uploader.wait_for(state="attached", timeout=90_000)
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
        other = url.rsplit("/", 1)[0] + "/forged-file-id"
        assert api.put(url, multipart=png).status == 403  # no XSRF token header: refused before reading the body
        assert api.put(other, multipart=png, headers={"X-Xsrftoken": "forged"}).status == 403
        assert api.post(url, multipart=png, headers={"X-Xsrftoken": token}).status == 405  # POST is not routed
        assert api.post(other, multipart=html, headers={"X-Xsrftoken": token}).status == 405
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
        assert put_over_the_cap(other, cookies, token) == 413  # over maxUploadSize
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


@pytest.mark.browser
def test_a_click_on_the_confusion_matrix_picks_the_cell(browser, server_with_runs):
    """In Chromium: a click on a diagonal cell says it holds the correctly classified digits; a click on a mistake
    cell chooses it in the selectbox (the one confusion-cell picker, ui.confusion_cells)."""
    import re

    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    try:
        page.goto(server_with_runs + "/saliency")
        page.get_by_text("Misclassified digit", exact=True).first.click(timeout=90_000)
        box = page.locator("[data-testid='stSelectbox']").filter(has_text="Mistake (true")
        box.first.wait_for(timeout=90_000)
        options = selectbox_options(page, box.first)  # the ones the list draws
        t, p = (int(d) for d in re.match(r"true (\d) → predicted (\d)", options[-1]).groups())
        plot = page.locator("[data-testid='stPlotlyChart']").first
        plot.scroll_into_view_if_needed()
        area = plot.locator(".nsewdrag").first.bounding_box()  # the heatmap's plot area: 10 × 10 cells

        def click(row: int, col: int) -> None:
            page.mouse.click(area["x"] + (col + 0.5) * area["width"] / 10,
                             area["y"] + (row + 0.5) * area["height"] / 10)

        click(t, t)
        page.get_by_text("correctly classified test digits of class").first.wait_for(timeout=60_000)
        page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)  # rerun done
        page.wait_for_timeout(1000)
        click(t, p)
        try:
            expect(box.first.locator("input")).to_have_value(options[-1], timeout=60_000)  # the chosen cell
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "saliency-cell-click.png"))
        # the note is gone once the rerun that the second click started has drawn
        expect(page.get_by_text("correctly classified test digits of class")).to_have_count(0, timeout=60_000)
        assert page.locator(EXCEPTION).count() == 0
    finally:
        context.close()
