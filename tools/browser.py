"""Driving app pages in a real browser (Playwright on Debian's Chromium) as a learner does: the shared moves of the
browser tests and the bench's Chromium rows."""
from __future__ import annotations


def exceptions(page) -> int:
    return page.locator("[data-testid='stException']").count()


def open_page(context, url: str, wait_text: str, timeout_ms: int = 180_000):
    page = context.new_page()
    page.goto(url)
    page.get_by_text(wait_text).first.wait_for(timeout=timeout_ms)
    return page


def move_a_slider(page, steps: int = 2) -> None:
    """Keyboard on the first slider thumb: what a learner does with the arrow keys. Each press reruns the
    page, which may re-render the thumb, so the locator is resolved again and the rerun awaited before the
    next press (with generous timeouts: under load a rerun can take many seconds)."""
    for _ in range(steps):
        page.get_by_role("slider").first.press("ArrowRight", timeout=120_000)
        settled(page)


def draw_stroke(page, points: list[tuple[float, float]]) -> None:
    """Press, drag through `points` (canvas pixels) and release on the Draw page's canvas (fabric's upper
    canvas), as a mouse does."""
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()


TOUR = {"Loss functions": "losses", "Optimizers": "optimizers", "Convolutions": "convolutions",
        "Fully connected net": "fully_connected"}  # sidebar title -> the page's address


def settled(page, timeout_ms: int = 120_000) -> None:
    """Wait until the page's script run has finished (Streamlit's "Running…" status widget is gone)."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout_ms)


def open_from_sidebar(page, title: str, path: str, timeout_ms: int = 120_000) -> None:
    """Click a page's link in the sidebar and wait for that page: its address shows (the browser has cleared the
    page being left) and its first slider is drawn, then its run ends. A key pressed after this lands on the new
    page (ui/stale_reruns.py is about one pressed before)."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    page.wait_for_url(f"**/{path}*", timeout=timeout_ms)
    page.get_by_role("slider").first.wait_for(timeout=timeout_ms)
    settled(page, timeout_ms)


def tour(page, base: str, rounds: int) -> int:
    """Switch pages through the sidebar and move sliders; returns the number of actions done. Each move waits for
    the new page (`open_from_sidebar`), so no key press lands on the page being left."""
    actions = 0
    for i in range(rounds):
        for title, path in TOUR.items():
            open_from_sidebar(page, title, path)
            move_a_slider(page, 1 + i % 2)
            assert exceptions(page) == 0, f"exception on {title}"
            actions += 2
    return actions
