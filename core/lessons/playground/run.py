"""A stored playground run: the settings a network ended with, and every stretch of epochs it trained with its
learning rate and regularization and the weights typed before it (TFP: click an edge, type a number). With the seed
that is all it takes to train the same network again (core.lessons.playground.live.replay). No Streamlit here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from core.config import Checked, ConfigError, digest
from core.lessons.playground.config import MAX_EPOCHS, MAX_SEGMENTS, PlaygroundConfig


@dataclass(frozen=True)
class Edit:
    """A weight typed on the page (TFP: click an edge, type its weight): `weight[neuron, source]` of the `layer`-th
    Linear (0: the one from the features)."""

    layer: int
    neuron: int  # in the layer that Linear feeds
    source: int  # in the layer before it
    value: float

    def problems(self, sizes: tuple[int, ...]) -> list[str]:
        ints = (self.layer, self.neuron, self.source)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in ints):
            return [f"a typed weight's place must be whole numbers (got {ints!r})"]
        if not (0 <= self.layer < len(sizes) - 1 and 0 <= self.neuron < sizes[self.layer + 1]
                and 0 <= self.source < sizes[self.layer]):
            return [f"no edge {ints} in a network of sizes {sizes}"]
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > WEIGHT_LIMIT:
            return [f"a typed weight must be a number from -{WEIGHT_LIMIT:g} to {WEIGHT_LIMIT:g} (got {v!r})"]
        return []


WEIGHT_LIMIT = 100.0  # the largest weight that can be typed
MAX_EDITS = 64  # typed weights in one stretch of epochs


@dataclass(frozen=True)
class Segment:
    """A stretch of epochs trained with one set of live settings (TFP's learning rate, and regularization), after
    the weights typed at its start (`edits`). A stretch of 0 epochs holds only typed weights."""

    lr: float
    regularization: str
    reg_rate: float
    epochs: int
    edits: tuple[Edit, ...] = ()

    def apply(self, cfg: PlaygroundConfig) -> PlaygroundConfig:
        return replace(cfg, lr=self.lr, regularization=self.regularization, reg_rate=self.reg_rate)

    def settings(self) -> tuple[float, str, float]:
        return self.lr, self.regularization, self.reg_rate

    @staticmethod
    def of(cfg: PlaygroundConfig, epochs: int = 0) -> Segment:
        return Segment(cfg.lr, cfg.regularization, cfg.reg_rate, epochs)

    @staticmethod
    def from_dict(d: object) -> Segment:
        names = [f.name for f in fields(Segment)]
        if not isinstance(d, dict) or set(d) != set(names):
            raise ConfigError(f"a segment has exactly the fields {names}")
        edits = d["edits"]
        if not isinstance(edits, list) or len(edits) > MAX_EDITS:
            raise ConfigError(f"a segment's edits are a list of at most {MAX_EDITS}")
        if not all(isinstance(e, dict) and set(e) == {f.name for f in fields(Edit)} for e in edits):
            raise ConfigError("an edit has exactly the fields layer, neuron, source and value")
        return Segment(**{**d, "edits": tuple(Edit(**e) for e in edits)})


@dataclass(frozen=True)
class PlaygroundRun(Checked):
    """A trained playground network as the store keeps it: the settings it ended with and every stretch of epochs
    it trained, with the learning rate and regularization of each (one stretch unless they were changed while it
    trained) and the weights typed before it. Together with the seed that is everything needed to train the same
    network again."""

    config: PlaygroundConfig
    segments: tuple[Segment, ...]

    @property
    def epochs(self) -> int:
        return sum(s.epochs for s in self.segments)

    @property
    def batch_size(self) -> int:
        """Points per step (the whole training set for full batch), as Training runs lists it."""
        return self.config.batch_size or self.config.n_train

    def key(self) -> str:
        return digest({"kind": "playground", **self.to_dict()})

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(),
                "segments": [{**asdict(s), "edits": [asdict(e) for e in s.edits]} for s in self.segments]}

    @staticmethod
    def from_dict(d: object) -> PlaygroundRun:
        if not isinstance(d, dict) or set(d) != {"config", "segments"}:
            raise ConfigError("a playground run has exactly the fields config and segments")
        segs = d["segments"]
        if not isinstance(segs, list) or not 1 <= len(segs) <= MAX_SEGMENTS:
            raise ConfigError(f"a playground run has 1 to {MAX_SEGMENTS} segments")
        run = PlaygroundRun(PlaygroundConfig.from_dict(d["config"]), tuple(Segment.from_dict(s) for s in segs))
        run.check()
        return run

    def problems(self) -> list[str]:
        if not isinstance(self.config, PlaygroundConfig):
            return ["config must be a PlaygroundConfig"]
        p = self.config.problems()
        if not 1 <= len(self.segments) <= MAX_SEGMENTS:
            p.append(f"a playground run has 1 to {MAX_SEGMENTS} segments (got {len(self.segments)})")
        for s in self.segments:
            if isinstance(s.epochs, bool) or not isinstance(s.epochs, int) or not 0 <= s.epochs <= MAX_EPOCHS:
                p.append(f"each segment trains 0 to {MAX_EPOCHS:,} epochs (got {s.epochs!r})")
            elif not (s.epochs or s.edits) or not isinstance(s.edits, tuple) or len(s.edits) > MAX_EDITS:
                p.append(f"a segment trains epochs or types weights (1 to {MAX_EDITS}), or both")
            else:
                p += [f"segment: {q}" for q in s.apply(self.config).problems()]
                p += [q for e in s.edits for q in (e.problems(self.config.sizes) if isinstance(e, Edit) else
                                                   ["an edit must be an Edit"])]
        if self.segments and Segment.of(self.config).settings() != self.segments[-1].settings():
            p.append("the last segment's settings must be the config's")
        if isinstance(self.epochs, int) and self.epochs > MAX_EPOCHS:
            p.append(f"at most {MAX_EPOCHS:,} epochs (got {self.epochs:,})")
        return p

    def label(self) -> str:
        changed = f" · {len(self.segments) - 1} change{'s' if len(self.segments) > 2 else ''} while training" \
            if len(self.segments) > 1 else ""
        typed = sum(len(s.edits) for s in self.segments)
        return f"Playground · {self.config.label()} · {self.epochs:,} epochs{changed}" + (
            f" · {typed} weight{'s' if typed > 1 else ''} typed" if typed else "")
