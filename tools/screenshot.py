"""Screenshot app pages in Debian's headless Chromium: python tools/screenshot.py URL OUT.png [wait_text]."""
import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def main(url: str, out: str, wait_text: str = "", width: int = 1400) -> None:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pg = b.new_page(viewport={"width": width, "height": 1000})
        pg.goto(url)
        pg.wait_for_selector("[data-testid='stApp']", timeout=30000)
        if wait_text:
            pg.get_by_text(wait_text).first.wait_for(timeout=60000)
        pg.wait_for_timeout(int(__import__("os").environ.get("SHOT_WAIT_MS", "2500")))
        pg.screenshot(path=out, full_page=True)
        b.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
