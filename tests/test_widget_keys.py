"""One widget-key convention: every key is `<prefix>_<name>`, the prefix a named constant of the module (a page's
`K`) or the `key` a shared widget function was given; never a bare string, so a page's keys can't collide with
another's and a test can find every control of a page by its prefix."""
from __future__ import annotations

import ast

import pytest

from support import ROOT

FILES = sorted([*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")])


def keys(path) -> list[ast.expr]:
    return [kw.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)
            for kw in node.keywords if kw.arg == "key"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_widget_key_starts_with_a_named_prefix(path):
    wrong = []
    for value in keys(path):
        if isinstance(value, (ast.Name, ast.Subscript)):  # the caller's `key`, or keys made from it in one place
            continue
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "key":
            continue  # ui.address's Address.key / Form.key: f"{prefix}_{widget}", the prefix a page's named one
        first = value.values[0] if isinstance(value, ast.JoinedStr) and value.values else None
        if not (isinstance(first, ast.FormattedValue) and isinstance(first.value, ast.Name)):
            wrong.append(ast.unparse(value))
    assert wrong == []
