"""core.samples: the photos inside scikit-image's wheel are listed and decode offline."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from core.data.samples import SAMPLE_PHOTOS, available_samples, load_sample_photo, skimage_data_dir


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_natural_photos_ship_in_the_wheel_and_load_offline(no_network):
    assert skimage_data_dir() is not None and skimage_data_dir().is_dir()
    found = available_samples()
    assert {"chelsea", "coffee", "rocket", "astronaut"} <= set(found)
    for key in found:
        img = load_sample_photo(key)
        assert img.pixels.dtype == np.uint8 and min(img.pixels.shape[:2]) >= 256
        assert img.pixels.std() > 20  # a real picture, not a blank
    assert load_sample_photo("camera").gray and load_sample_photo("chelsea").pixels.shape == (300, 451, 3)


def test_it_matches_skimage_own_loader():
    from skimage import data

    assert np.array_equal(load_sample_photo("chelsea").pixels, data.chelsea())
    assert np.array_equal(load_sample_photo("coffee").pixels, data.coffee())


def test_missing_files_are_not_offered(monkeypatch, tmp_path):
    monkeypatch.setattr("core.data.samples.skimage_data_dir", lambda: tmp_path)
    (tmp_path / SAMPLE_PHOTOS[0].file).write_bytes((skimage_data_dir_real() / SAMPLE_PHOTOS[0].file).read_bytes())
    assert list(available_samples()) == [SAMPLE_PHOTOS[0].key]
    with pytest.raises(KeyError):
        load_sample_photo(SAMPLE_PHOTOS[1].key)


def skimage_data_dir_real():
    import importlib.util
    from pathlib import Path

    return Path(next(iter(importlib.util.find_spec("skimage").submodule_search_locations))) / "data"
