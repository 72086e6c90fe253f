"""Outside text on a page: a value from the page address, a file's name or content, a run name or a stored string,
escaped so Streamlit's markdown shows it as the characters it is, never as a link, an image, a tag or formatting.

Every string that did not come from this app's own code goes through `md` before it reaches st.markdown, an alert
(st.info/success/warning/error), a caption, a dialog or a widget label. Backslash escapes stop markdown's syntax
(links, images, emphasis, code, HTML, headings, tables, math, Streamlit's `:material/…:` and `:color[…]`
directives), but GitHub-flavoured markdown also turns bare addresses into links *after* parsing (`www.x.org`,
`http://x`, `a@b.org`), on the unescaped text: an invisible word joiner after `:` and `@`, and inside `www.`, keeps
those from matching. Figure labels escape differently (Plotly reads HTML tags): core.figures.base.plain.
"""
from __future__ import annotations

import re
import string

MAX_CHARS = 200  # outside text longer than this is cut (an address can be kilobytes long)
JOINER = "\u2060"  # WORD JOINER: invisible, never a line break, not part of a web address or an e-mail domain
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")  # CommonMark escapes all ASCII punctuation
_WWW = re.compile(r"(www)(?=\\\.)", re.IGNORECASE)


def md(text: object, limit: int = MAX_CHARS) -> str:
    """`text` as markdown that renders as exactly its characters, on one line, at most `limit` characters
    (cut with "…"); control characters and line breaks become spaces."""
    s = "".join(" " if not ch.isprintable() else ch for ch in str(text))
    s = " ".join(s.split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = _PUNCTUATION.sub(r"\\\1", s)
    s = s.replace(":", ":" + JOINER).replace("@", "@" + JOINER)
    return _WWW.sub(r"\1" + JOINER, s)
