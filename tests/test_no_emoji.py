"""No emoji in the app's text: they render as empty boxes where no emoji font is installed. Use :material/…:."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Emoji blocks (pictographs, symbols, dingbats, arrows/shapes supplement, regional flags) and the emoji selector.
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\U0001F1E6-\U0001F1FF\uFE0F]")


def app_files() -> list[Path]:
    return [ROOT / "streamlit_app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]


def test_the_pattern_finds_emoji():
    assert EMOJI.search('st.title("\U0001F525 PyTorch")') and EMOJI.search("\u26a0\ufe0f note")
    assert EMOJI.search("\u270f\ufe0f") and not EMOJI.search("3×4 → 12 − 1 · ∂loss :material/draw:")


def test_no_emoji_in_pages_ui_and_entry():
    files = app_files()
    assert len(files) > 5
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in files
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if EMOJI.search(line)]
    assert not found, "emoji left (use :material/name: icons):\n" + "\n".join(found)
