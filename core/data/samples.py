"""Sample photos that ship inside scikit-image's wheel: read as files, never through pooch or the network.

`skimage.data.<name>()` downloads many of its images on first use; the ones below are inside the
wheel itself (skimage/data/*.png|jpg). They are located with importlib (skimage is not imported)
and decoded by the same validated path as an upload (core.uploads.decode_image).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.data.uploads import DecodedImage, decode_image


@dataclass(frozen=True)
class SamplePhoto:
    key: str
    label: str
    file: str  # file name inside skimage/data


SAMPLE_PHOTOS = (
    SamplePhoto("chelsea", "Cat (Chelsea)", "chelsea.png"),
    SamplePhoto("coffee", "Cup of coffee", "coffee.png"),
    SamplePhoto("rocket", "Rocket on its launch pad", "rocket.jpg"),
    SamplePhoto("astronaut", "Astronaut (Eileen Collins)", "astronaut.png"),
    SamplePhoto("motorcycle", "Motorcycle", "motorcycle_left.png"),
    SamplePhoto("camera", "Cameraman (grayscale)", "camera.png"),
)


def skimage_data_dir() -> Path | None:
    """skimage/data of the installed wheel, or None when scikit-image is not installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def available_samples() -> dict[str, SamplePhoto]:
    """The sample photos whose files are present, by key (empty without scikit-image)."""
    folder = skimage_data_dir()
    if folder is None:
        return {}
    return {s.key: s for s in SAMPLE_PHOTOS if (folder / s.file).is_file()}


def load_sample_photo(key: str) -> DecodedImage:
    """Decode one sample photo (validated like an upload). KeyError for an unknown or missing key."""
    sample = available_samples()[key]
    folder = skimage_data_dir()
    assert folder is not None  # available_samples() was not empty
    return decode_image((folder / sample.file).read_bytes())
