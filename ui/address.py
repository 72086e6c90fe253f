"""Page addresses: every control that changes what a page computes lives in the page address (st.query_params)
and in the session, through one table per page (`Address`) and one restore / mirror pair.

Streamlit drops a widget's state when the learner leaves its page, so each control is seeded, on the first run
that renders it, from (in this order) a new page address (a link, a bookmark, a reload), the value this learner
last gave it in this session, or its default; after the controls are read, `mirror` keeps their values in the
session and writes them into the address. A value from the address is used only if it is one the control offers
(else the page says, in one sentence, that it was ignored). "New" means: not what this session last wrote there,
so a control that appears mid-visit (one keyed by another control, like a surface's own step count) starts from
its own kept value, not from the address written for its sibling.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import streamlit as st

from ui.text import md

KEPT = "address_kept"  # {widget key: value}: what each control held when this learner last saw it
WRITTEN = "address_written"  # {address prefix: {parameter: text}}: what this session last wrote in the address
IGNORED = "address_ignored"  # {widget key: (notice, value shown instead)}: an address value this visit ignored


@dataclass(frozen=True)
class Setting:
    """One control in the page address: its parameter, widget-key suffix, and the values it may take."""

    url: str  # the parameter in the page address ("lr" in ?lr=0.01)
    widget: str  # the widget key is f"{prefix}_{widget}" unless the page passes its own (`keys=`)
    parse: Callable[[str], object] = str  # address text -> value (ValueError/TypeError: not one)
    choices: Sequence | None = None  # the values the control offers, or
    bounds: tuple[float, float] | None = None  # a slider's range (finite numbers inside it)
    text: Callable[[object], str] = str  # value -> its text in the address
    remember: bool = True  # False: a new visit starts from the default (one the page computes, e.g. a latest run)
    unlinked: Sequence = ()  # values the control offers that no address may set (a link never turns a camera on):
    # the session keeps them like any other; an address naming one is ignored

    def read(self, raw: str) -> object:
        """The value `raw` stands for; ValueError if the control does not offer it."""
        try:
            value = self.parse(raw)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(raw) from e
        if self.choices is not None and value not in self.choices:
            raise ValueError(raw)
        if self.bounds is not None:
            lo, hi = self.bounds
            if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
                raise ValueError(raw)
        return value

    def offers(self, value: object) -> bool:
        """Whether the control may show `value` (a kept one included)."""
        if value in self.unlinked:
            return True
        try:
            self.read(self.text(value))
        except (ValueError, TypeError):
            return False
        return True


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # values that do not compare to one bool (arrays)
        return False


def number(v: object) -> str:
    """A float as short address text: 0.001, 1e-05, 2.5."""
    return f"{v:g}"


def choice(url: str, widget: str, choices: Sequence, parse: Callable[[str], object] = str,
           text: Callable[[object], str] = str, remember: bool = True) -> Setting:
    return Setting(url, widget, parse, choices=list(choices), text=text, remember=remember)


def slider(url: str, widget: str, lo: float, hi: float, whole: bool = False) -> Setting:
    """A numeric slider or number input between lo and hi (whole numbers when `whole`)."""
    return Setting(url, widget, int if whole else float, bounds=(lo, hi), text=str if whole else number)


def flag(url: str, widget: str) -> Setting:
    """A toggle or checkbox: 1 / 0 in the address."""
    return Setting(url, widget, lambda raw: {"1": True, "0": False}[raw], text=lambda v: "1" if v else "0")


def several(url: str, widget: str, choices: Sequence[str]) -> Setting:
    """A multi-select (pills, multiselect) of strings: comma-separated in the address, in the choices' order."""
    def parse(raw: str) -> list[str]:
        picked = [p for p in raw.split(",") if p]
        if any(p not in choices for p in picked):
            raise ValueError(raw)
        return [c for c in choices if c in picked]

    return Setting(url, widget, parse, text=lambda v: ",".join(v))


def text(url: str, widget: str, longest: int = 200) -> Setting:
    """Free text the page checks itself (e.g. typed logits): only its length is bounded here."""
    def parse(raw: str) -> str:
        if len(raw) > longest:
            raise ValueError(raw)
        return raw

    return Setting(url, widget, parse)


@dataclass(frozen=True)
class Address:
    """One page's (or one part of a page's) address settings: name -> Setting, under a widget-key prefix."""

    prefix: str
    settings: Mapping[str, Setting] = field(default_factory=dict)

    def key(self, name: str) -> str:
        return f"{self.prefix}_{self.settings[name].widget}"

    def _keys(self, names: Sequence[str], keys: Mapping[str, str] | None) -> dict[str, str]:
        return {n: (keys or {}).get(n) or self.key(n) for n in names}

    def restore(self, defaults: Mapping[str, object], keys: Mapping[str, str] | None = None) -> None:
        """Seed the controls named in `defaults` that have no widget state: from a new address, else the kept
        value, else the default. `keys`: widget keys that differ from f"{prefix}_{widget}" (keyed controls)."""
        written = st.session_state.get(WRITTEN, {}).get(self.prefix, {})
        kept = st.session_state.get(KEPT, {})
        ignored = st.session_state.setdefault(IGNORED, {})
        for name, widget in self._keys(list(defaults), keys).items():
            if widget in st.session_state:
                # The notice stays until the learner changes the control: a rerun the page asks for at once (a
                # component's first value, a fragment) would otherwise take it away before it is read.
                notice, shown = ignored.get(widget, (None, None))
                if notice and _same(st.session_state[widget], shown):
                    st.warning(notice, icon=":material/link_off:")
                else:
                    ignored.pop(widget, None)
                continue
            ignored.pop(widget, None)
            s = self.settings[name]
            raw = st.query_params.get(s.url)
            value = defaults[name]
            if s.remember and widget in kept and s.offers(kept[widget]):  # not, e.g., a choice that went away
                value = kept[widget]
            if raw is not None and raw != written.get(s.url):  # a link, a bookmark, a reload: not our own writing
                try:
                    value = s.read(raw)
                except ValueError:
                    notice = (f"Ignored {md(f'{s.url}={raw}', 60)} in the page address: it is not one of the "
                              "values this control offers.")
                    st.warning(notice, icon=":material/link_off:")
                    ignored[widget] = (notice, value)
            st.session_state[widget] = value

    def mirror(self, values: Mapping[str, object], keys: Mapping[str, str] | None = None,
               partial: bool = False) -> None:
        """Keep the controls' values in the session and write them into the page address. Parameters of this
        table's controls that `values` leaves out (not shown now) leave the address, unless `partial` (a later
        part of the page adds its own controls to what an earlier call wrote)."""
        kept = st.session_state.setdefault(KEPT, {})
        for name, widget in self._keys(list(values), keys).items():
            kept[widget] = values[name]
        written = {self.settings[n].url: self.settings[n].text(v) for n, v in values.items()}
        mine = st.session_state.setdefault(WRITTEN, {}).setdefault(self.prefix, {})  # tables may share a prefix
        if not partial:
            for s in self.settings.values():
                if s.url not in written:
                    mine.pop(s.url, None)
                    if s.url in st.query_params:
                        del st.query_params[s.url]
        mine.update(written)
        if any(st.query_params.get(k) != v for k, v in written.items()):
            st.query_params.update(written)

    def controls(self, defaults: Mapping[str, object], keys: Mapping[str, str] | None = None) -> dict[str, str]:
        """restore(defaults, keys), then the widget key of each control, for the page to create it with."""
        self.restore(defaults, keys)
        return self._keys(list(defaults), keys)


class Form:
    """Controls made one at a time (each may depend on the last): `key(name, default)` restores one control and
    names its widget key, `keep(name, value)` records what it shows, `mirror()` writes them all at the end."""

    def __init__(self, here: Address) -> None:
        self.here = here
        self.values: dict[str, object] = {}

    def key(self, name: str, default: object) -> str:
        return self.here.controls({name: default})[name]

    def keep(self, name: str, value: object) -> object:
        self.values[name] = value
        return value

    def mirror(self) -> None:
        self.here.mirror(self.values)


def tabs(prefix: str, labels: Sequence[str]) -> Sequence:
    """st.tabs whose open tab is kept like any control (?{prefix}_tab=Filters): a sidebar trip or a reload opens
    it again. Each returned tab's `.open` says whether it is the open one (a page may run only that one)."""
    here = Address(prefix, {"tab": choice(f"{prefix}_tab", "tab", list(labels))})
    key = here.controls({"tab": labels[0]})["tab"]
    out = st.tabs(list(labels), key=key, on_change="rerun")
    here.mirror({"tab": st.session_state[key]})
    return out
