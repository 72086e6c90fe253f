"""'What to try': TensorFlow Playground's classic lessons as settings to load, each with what to watch for."""
from __future__ import annotations

from dataclasses import dataclass

from core.lessons.playground.config import FEATURES, PlaygroundConfig


@dataclass(frozen=True)
class Try:
    key: str
    title: str
    text: str  # markdown: what to do and what to see
    config: PlaygroundConfig


XOR = PlaygroundConfig(dataset="xor", hidden=())
TRIES: tuple[Try, ...] = (
    Try("xor_line", "XOR, no hidden layer",
        "Press **Play**: the boundary stays a straight line and the loss stays on the *constant guess*: no straight "
        "line separates XOR. A network needs a hidden layer, or a feature that bends.", XOR),
    Try("xor_feature", "XOR + x₁·x₂",
        "Still no hidden layer, but the feature x₁·x₂ is positive exactly where XOR's label is: learned within a "
        "few epochs.", PlaygroundConfig(dataset="xor", features=("x1", "x2", "x1x2"), hidden=())),
    Try("xor_hidden", "XOR, 4 hidden neurons",
        "Only x₁, x₂ again, with one hidden layer: each hidden neuron draws one straight line (look at the tiles), "
        "and the output combines them into XOR's four quadrants.",
        PlaygroundConfig(dataset="xor", hidden=(4,))),
    Try("spiral_sin", "Spiral + sin features",
        "The spiral defeats small networks on x₁, x₂. Give it sin(x₁), sin(x₂): two layers of 8 learn it in a few "
        "hundred epochs.", PlaygroundConfig(dataset="spiral", features=("x1", "x2", "sinx1", "sinx2"), hidden=(8, 8))),
    Try("spiral_deep", "Spiral, 4 ReLU layers",
        "Or depth instead of features: four layers of 8 ReLUs on x₁, x₂ alone get there too, more slowly (watch the "
        "later layers' tiles bend).",
        PlaygroundConfig(dataset="spiral", hidden=(8, 8, 8, 8), activation="relu")),
    Try("l1", "L1 prunes edges",
        "All seven features and L1 regularization: within about a hundred epochs almost every edge thins to nothing, "
        "and what is left is x₁² and x₂² into one neuron: all a circle needs.",
        PlaygroundConfig(features=tuple(FEATURES), hidden=(4,), regularization="l1", reg_rate=0.01)),
    Try("lr3", "Learning rate 3",
        "Far too large: the loss leaps, the neurons saturate and training gets stuck (the page says so). Lower the "
        "learning rate while it plays, or press Reset after lowering it. On *Plane* (regression) it blows up at "
        "once.", PlaygroundConfig(lr=3.0)),
)
