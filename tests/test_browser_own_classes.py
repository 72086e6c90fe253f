"""The Transfer page's route "Your own classes" in Chromium: several photos chosen at once land in one class, with a
thumbnail each; a file that is not a photo in the same batch gets its sentence and the others are kept."""
from __future__ import annotations

import re

import pytest

from support import ARTIFACTS, LEARNER_VIEWPORT, sample_variants

pytestmark = pytest.mark.browser


def test_several_photos_uploaded_at_once_land_in_one_class(app_server, page_at, tmp_path):
    files = []
    for i, data in enumerate(sample_variants("coffee", 4)):
        files.append(tmp_path / f"cup-{i}.png")
        files[-1].write_bytes(data)
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"<!DOCTYPE html><html>not a photo</html>")
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/transfer?route=own")
    box = page.locator("[data-testid='stFileUploader']").filter(has_text=re.compile("Add photos to “Class 2”"))
    box.wait_for(timeout=120_000)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=120_000)
    box.locator("input[type='file']").set_input_files([*map(str, files), str(junk)])  # one choice, five files
    page.get_by_text("Added 4 photos to “Class 2”.").wait_for(timeout=180_000)
    page.get_by_text("1 file could not be used").wait_for(timeout=30_000)
    assert page.get_by_text(re.compile("notes.png")).count() >= 1  # named, with why
    page.get_by_text(re.compile(r"^4 photos · needs 1 more$")).wait_for(timeout=30_000)
    class_two = page.locator("[data-testid='stLayoutWrapper']").filter(
        has=page.get_by_text("Add photos to “Class 2”"))
    thumbs = class_two.last.locator("[data-testid='stImage'] img")
    thumbs.nth(3).wait_for(timeout=60_000)
    assert thumbs.count() == 4  # a thumbnail each
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "own-classes-upload-several.png"))
