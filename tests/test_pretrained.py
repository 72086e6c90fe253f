"""core.transfer.pretrained: ImageNet weights from a test-written hub cache; missing, corrupt, incompatible and
pickled-payload weights refused with a message, the model in use unchanged."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from core.transfer import pretrained
from core.transfer.features import backbone_features
from core.transfer.model import build_resnet18
from support import write_fake_imagenet as _write_fake_imagenet


def test_weights_load_from_test_written_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = pretrained.hub_cache_file()
    assert cached == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    written = _write_fake_imagenet(cached)
    res = pretrained.load_imagenet_weights()
    assert res.ok and res.origin == str(cached)
    for k in ("conv1.weight", "layer3.1.bn2.running_var", "fc.weight"):
        assert torch.equal(res.state[k], written[k])
    model = build_resnet18(10, torch.Generator().manual_seed(0), res.state)
    assert torch.equal(model.layer4[1].conv2.weight, written["layer4.1.conv2.weight"])
    assert model.fc.weight.shape == (10, 512)
    ref = resnet18(weights=None)  # the same file read by torchvision's own resnet18(weights=...) code
    ref.load_state_dict(torch.load(cached, weights_only=True))
    with torch.no_grad():
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(backbone_features(model.eval(), x), backbone_features(ref.eval(), x))


def test_missing_weights_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    res = pretrained.load_imagenet_weights(allow_download=False)
    assert not res.ok and "not in torch hub's cache" in res.reason
    assert "python -m core.transfer.pretrained --download" in res.how_to and "resnet18-f37072fd.pth" in res.how_to
    assert not pretrained.load_imagenet_weights(file=tmp_path / "nope.pth").ok


def test_corrupt_or_incompatible_weights_get_a_message_and_change_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = pretrained.hub_cache_file()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    model = build_resnet18(10, torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = pretrained.load_imagenet_weights()
    assert not res.ok and "unreadable" in res.reason and res.how_to
    assert cached.read_bytes().startswith(b"PK")  # left as it was for the user to inspect
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, wrong)
    assert "not ResNet-18's" in pretrained.load_imagenet_weights(file=wrong).reason
    shapes = tmp_path / "shapes.pth"
    state = _write_fake_imagenet(shapes)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(state, shapes)
    assert "shape" in pretrained.load_imagenet_weights(file=shapes).reason
    with pytest.raises(ValueError, match="incompatible"):
        pretrained.load_backbone(model, state)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_weights_pickle_with_payload_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"x": _Payload(marker)}, evil)
    res = pretrained.load_imagenet_weights(file=evil)
    assert not res.ok and not marker.exists()
