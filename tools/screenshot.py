"""Screenshot an app page in Debian's headless Chromium, at a learner's 1280×800 unless told otherwise:
`python -m tools.screenshot URL OUT.png [wait_text] [width] [height]`."""
import os
import sys

from playwright.sync_api import sync_playwright

from tools.app_server import CHROMIUM, CHROMIUM_ARGS


def main(url: str, out: str, wait_text: str = "", width: int | str = 1280, height: int | str = 800) -> None:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = b.new_page(viewport={"width": int(width), "height": int(height)})
        pg.goto(url)
        pg.wait_for_selector("[data-testid='stApp']", timeout=30000)
        if wait_text:
            pg.get_by_text(wait_text).first.wait_for(timeout=60000)
        pg.wait_for_timeout(int(os.environ.get("SHOT_WAIT_MS", "2500")))
        pg.screenshot(path=out, full_page=True)
        b.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
