"""Transfer learning with torchvision's ResNet-18: strategies, freezing, parameter groups, training.

Strategies (one table, `STRATEGIES`): feature extraction (only `fc` trains), fine-tune the last k stages
(layer4, then layer3, layer2, layer1) with a lower learning rate for the backbone than for the head,
full fine-tuning, and from scratch. Frozen BatchNorm layers are kept in eval mode while the rest trains
(`frozen_norms`, handed to core.train's loop), so their running statistics don't drift away from the pretrained ones.
Every run trains through core.train's one loop (`train_loop`), as the MNIST models do.

Speed: images stay uint8 on the device and each batch is resized (F.interpolate) and normalized there;
feature extraction runs the frozen backbone once over the dataset (`extract_features`, inference mode)
and trains the head on the stored (N, 512) features (`fit_head`), which is exactly the same model as the
backbone + head in eval mode, at a fraction of the cost.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.config import FeatureConfig, TransferConfig, default_device
from core.data import CIFAR_NORM, DIGITS_NORM, IMAGENET_NORM, Split
from core.inspection import LayerRow, count_params
from core.models import resnet18
from core.pretrained import load_backbone, load_imagenet_weights
from core.record import History, Progress, Run
from core.train import Fitted, Schedule, TensorData, train_loop, train_mode

STAGES: tuple[str, ...] = ("layer4", "layer3", "layer2", "layer1")  # unfrozen in this order by "finetune"
OnProgress = Callable[[Progress], None]


@dataclass(frozen=True)
class Strategy:
    key: str
    label: str
    trainable: Callable[[int], tuple[str, ...]]  # k -> top-level modules whose parameters train
    pretrained: bool  # starts from pretrained backbone weights
    explain: str


STRATEGIES: dict[str, Strategy] = {s.key: s for s in (
    Strategy("feature", "Feature extraction", lambda k: ("fc",), True,
             "Everything but the new fc head is frozen: the backbone is a fixed feature extractor."),
    Strategy("finetune", "Fine-tune last k stages", lambda k: ("fc", *STAGES[:k]), True,
             "The head and the last k stages train; the backbone's stages use a lower learning rate."),
    Strategy("full", "Full fine-tuning", lambda k: ("conv1", "bn1", *STAGES, "fc"), True,
             "Every layer trains, the pretrained backbone with a lower learning rate than the head."),
    Strategy("scratch", "From scratch", lambda k: ("conv1", "bn1", *STAGES, "fc"), False,
             "Random weights, every layer trains at the head's learning rate: no transfer at all."),
)}


@dataclass(frozen=True)
class ImageTask:
    """A classification dataset for transfer: uint8 images (N, 3, 32, 32) on the CPU, labels 0..C-1."""

    name: str  # "digits-source", "digits-target", "cifar10"
    description: str
    classes: tuple[str, ...]
    train: Split
    test: Split
    note: str = ""


@dataclass(frozen=True)
class ParamGroup:
    name: str  # "head (fc)" or "backbone"
    lr: float
    n_params: int
    modules: tuple[str, ...]  # top-level modules in the group


@dataclass(frozen=True)
class LayerGrad:
    name: str  # parameterized leaf module, e.g. "layer4.1.conv2"
    grad_norm: float  # L2 norm of the gradients of its parameters after one step (0.0 when frozen)
    trainable: bool


# ---------------------------------------------------------------- model and freezing
def init_weights_(model: nn.Module, g: torch.Generator) -> nn.Module:
    """torchvision's ResNet initialization, driven by a private generator (replayable; no global RNG)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(m.in_features)
            nn.init.uniform_(m.bias, -bound, bound, generator=g)
    return model


def build_resnet18(num_classes: int, g: torch.Generator, backbone: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The registry's ResNet-18 (torchvision's, `fc = Linear(512, num_classes)`), initialized from `g`;
    backbone weights copied from `backbone`. Built on the meta device first, so nothing is initialized twice."""
    with torch.device("meta"):
        model = resnet18((3, 32, 32), num_classes)  # (B, 3, r, r) -> (B, num_classes)
    model = init_weights_(model.to_empty(device="cpu"), g)
    if backbone is not None:
        load_backbone(model, backbone)
    return model


def num_classes(cfg: TransferConfig) -> int:
    """Classes of cfg's task: CIFAR-10's 10, or 5 digits (0-4 for the source task, 5-9 for the target)."""
    return 10 if cfg.source == "cifar10" else 5


def class_names(cfg: TransferConfig) -> tuple[str, ...]:
    """The classes of cfg's task, in label order: CIFAR-10's, or the digits 0-4 (source) or 5-9 (target)."""
    if cfg.source == "cifar10":
        from core.cifar import CIFAR_CLASSES

        return CIFAR_CLASSES
    return tuple("01234") if cfg.task == "source" else tuple("56789")


def expected_state(cfg: TransferConfig) -> dict[str, torch.Tensor]:
    """Names, shapes and dtypes (meta tensors) of the weights a stored run of `cfg` holds: the whole model,
    or only the head ("fc.weight", "fc.bias") for feature extraction, whose backbone is the starting one."""
    with torch.device("meta"):
        state = resnet18((3, 32, 32), num_classes(cfg)).state_dict()
    return {k: v for k, v in state.items() if k.startswith("fc.")} if cfg.strategy == "feature" else state


def expected_features(cfg: FeatureConfig) -> dict[str, torch.Tensor]:
    return {"train": torch.empty(cfg.n_train, 512, device="meta"), "test": torch.empty(cfg.n_test, 512, device="meta")}


def apply_strategy(model: nn.Module, strategy: str, k: int = 1) -> nn.Module:
    """Set requires_grad per the strategy: the listed top-level modules train, everything else is frozen."""
    trainable = set(STRATEGIES[strategy].trainable(k))
    for name, child in model.named_children():
        child.requires_grad_(name in trainable)
    return model


def frozen_norms(model: nn.Module) -> tuple[nn.Module, ...]:
    """The BatchNorm layers whose parameters are all frozen: the ones that stay in eval mode while the rest
    trains, so their running mean/var keep the pretrained statistics instead of drifting toward each batch."""
    return tuple(m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and not any(p.requires_grad for p in m.parameters(recurse=False)))


def set_train_mode(model: nn.Module) -> nn.Module:
    """model.train(), except the frozen BatchNorm layers (`frozen_norms`), which stay in eval mode."""
    return train_mode(model, frozen_norms(model))


def param_groups(model: nn.Module, cfg: TransferConfig) -> list[ParamGroup]:
    """The optimizer's groups: the head at head_lr, the trainable backbone at backbone_lr (scratch: one lr)."""
    head_lr = cfg.head_lr
    backbone_lr = cfg.head_lr if cfg.strategy == "scratch" else cfg.backbone_lr
    groups = []
    for name, lr, pick in (("head (fc)", head_lr, lambda n: n == "fc"), ("backbone", backbone_lr, lambda n: n != "fc")):
        mods = tuple(n for n, c in model.named_children()
                     if pick(n) and any(p.requires_grad for p in c.parameters()))
        n_params = sum(p.numel() for n in mods for p in getattr(model, n).parameters() if p.requires_grad)
        if mods:
            groups.append(ParamGroup(name, lr, n_params, mods))
    return groups


def make_optimizer(model: nn.Module, cfg: TransferConfig) -> torch.optim.Optimizer:
    """Adam over the trainable parameters only, one parameter group per `param_groups` entry."""
    groups = [{"params": [p for n in g.modules for p in getattr(model, n).parameters() if p.requires_grad],
               "lr": g.lr, "name": g.name} for g in param_groups(model, cfg)]
    return torch.optim.Adam(groups, fused=True)  # one fused kernel per step (CPU and CUDA)


# ---------------------------------------------------------------- inputs and features
def normalization(cfg: TransferConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The pretrained weights' own normalization (ImageNet's), else the dataset's."""
    if cfg.weights == "imagenet":
        return IMAGENET_NORM
    return DIGITS_NORM if cfg.source == "digits" else CIFAR_NORM


def prepare(images: torch.Tensor, resolution: int, norm: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    """uint8 (B, 3, H, W) on the device -> normalized float (B, 3, r, r), resized on the device (no PIL)."""
    x = images.float().div_(255.0)  # (B, 3, H, W)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)  # (B, 3, r, r)
    mean = torch.tensor(norm[0], device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm[1], device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def backbone_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResNet-18 up to the global average pool: (B, 3, r, r) -> (B, 512), i.e. what `fc` sees."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))  # (B, 64, r/4, r/4)
    x = model.layer4(model.layer3(model.layer2(model.layer1(x))))  # (B, 512, r/32, r/32)
    return torch.flatten(model.avgpool(x), 1)  # (B, 512)


def feature_pass(resolution: int, device: torch.device) -> tuple[torch.memory_format, int]:
    """(memory format, images per batch) of the frozen backbone's one pass. On the CPU: channels-last, which runs
    oneDNN's NHWC convolutions and max-pool (measured on 2 cores, bench/transfer.py: 1.4x less CPU time per image at
    224 px, 2x at 32 px), in batches of about the same pixels at every resolution (8 images at 224 px, up to 256
    at 32 px), small enough to stay in cache. On CUDA: PyTorch's default layout, batch 256 (not measured here)."""
    if device.type == "cpu":
        return torch.channels_last, max(8, min(256, round(8 * (224 / resolution) ** 2)))
    return torch.contiguous_format, 256


@torch.inference_mode()
def extract_features(model: nn.Module, images: torch.Tensor, resolution: int,
                     norm: tuple[tuple[float, ...], tuple[float, ...]], device: torch.device,
                     batch: int | None = None) -> torch.Tensor:
    """Run the (eval-mode) backbone once over uint8 `images` (N, 3, H, W), batched on the device -> (N, 512),
    in `feature_pass`'s layout (a model already in that layout, as `compute_features` makes, skips a weight
    reorder per batch; any model gives the same features)."""
    layout, auto = feature_pass(resolution, device)
    batch = batch or auto
    out = torch.empty(len(images), 512, device=device)
    for i in range(0, len(images), batch):
        xb = prepare(images[i:i + batch].to(device, non_blocking=True), resolution, norm)  # (b, 3, r, r)
        out[i:i + batch] = backbone_features(model, xb.contiguous(memory_format=layout))
    return out


# ---------------------------------------------------------------- training (through core.train's one loop)
def _schedule(cfg: TransferConfig, eval_batch: int) -> Schedule:
    return Schedule(cfg.epochs, cfg.batch_size, eval_batch)


def _blew_up(cfg: TransferConfig, done: Fitted) -> str:
    own_backbone_lr = cfg.strategy not in ("feature", "scratch")
    lrs = f"head {cfg.head_lr:g}" + (f", backbone {cfg.backbone_lr:g}" if own_backbone_lr else "")
    return done.blew_up(f"Lower the learning rates ({lrs}) and train again.") if done.diverged else ""


def fit_head(cfg: TransferConfig, feats: torch.Tensor, y: torch.Tensor, test_feats: torch.Tensor,
             y_test: torch.Tensor, num_classes: int, g: torch.Generator,
             on_progress: OnProgress | None = None, report_every: int | None = None) -> tuple[nn.Linear, Fitted]:
    """Train Linear(512, C) on stored features (N, 512) through core.train's loop; same init and optimizer as
    the full model's fc. Stored features need no input transform, and the test set goes through in big batches."""
    head = init_weights_(nn.Linear(512, num_classes, device="meta").to_empty(device="cpu"), g).to(feats.device)
    opt = torch.optim.Adam([{"params": head.parameters(), "lr": cfg.head_lr, "name": "head (fc)"}], fused=True)
    done = train_loop(head, opt, TensorData(feats, y, test_feats, y_test, num_classes), _schedule(cfg, 4096), g,
                      on_progress=on_progress, report_every=report_every)
    return head, done


def _metrics(run_s: float, done: Fitted, device: torch.device, task: ImageTask, trainable: int,
             **extra) -> dict[str, float | str]:
    hist, per_s = done.history, done.seen / done.train_s if done.train_s > 0 else 0.0
    return {"test_loss": hist.val_loss[-1] if hist.val_loss else float("nan"),
            "test_acc": hist.val_acc[-1] if hist.val_acc else float("nan"),
            "train_s": done.train_s, "wall_s": run_s, "samples_per_s": per_s, "images_per_s": per_s,
            "device": str(device),
            "n_train": len(task.train), "n_test": len(task.test), "trainable_params": trainable, **extra}


def feature_config(cfg: TransferConfig, data: ImageTask, pretraining: str = "") -> FeatureConfig:
    """The key of the features `cfg`'s backbone gives on `data` (pretraining: the digits backbone's run key)."""
    return FeatureConfig(cfg.weights, pretraining if cfg.weights == "digits-pretrained" else "", cfg.source,
                         cfg.labels_per_class, cfg.subset, cfg.resolution, len(data.train), len(data.test))


def compute_features(fcfg: FeatureConfig, data: ImageTask, backbone: dict[str, torch.Tensor],
                     device: torch.device | None = None) -> Run:
    """The frozen backbone once over the train and test images (inference mode, batched, on the device) -> a
    storable record whose state is {"train": (N, 512), "test": (M, 512)}."""
    device = device or default_device()
    t0 = time.perf_counter()
    model = build_resnet18(len(data.classes), torch.Generator().manual_seed(0), backbone).to(device).eval()
    model = model.to(memory_format=feature_pass(fcfg.resolution, device)[0])  # private: its layout is ours to set
    norm = normalization(TransferConfig(weights=fcfg.weights, source=fcfg.source))
    train = extract_features(model, data.train.images, fcfg.resolution, norm, device)  # (N, 512)
    test = extract_features(model, data.test.images, fcfg.resolution, norm, device)  # (M, 512)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    s = time.perf_counter() - t0
    n = len(data.train) + len(data.test)
    metrics = {"train_s": s, "wall_s": s, "features_s": s, "samples_per_s": n / s, "images_per_s": n / s,
               "device": str(device), "n_train": len(data.train), "n_test": len(data.test)}
    return Run(fcfg, {"train": train.cpu(), "test": test.cpu()}, History(steps_per_epoch=1), metrics)


def fit_transfer(cfg: TransferConfig, data: ImageTask, device: torch.device | None = None,
                 on_progress: OnProgress | None = None,
                 backbone: dict[str, torch.Tensor] | None = None, features: Run | None = None,
                 report_every: int | None = None) -> Run:
    """Train `cfg` on `data` through core.train's loop. `backbone`: pretrained weights (required unless
    cfg.weights == "random").

    Feature extraction returns the head's state ("fc.weight", "fc.bias"); rebuild the full model from the
    same backbone weights + that head. It trains on `features` (a `compute_features` record, e.g. from the
    store) when given, else computes them. Every other strategy trains end to end on the uint8 images resident
    on the device, each batch resized and normalized there (`prepare`), the frozen BatchNorm layers kept in eval
    mode, and returns the full state dict.
    """
    cfg.validate()
    if (backbone is None) != (cfg.weights == "random"):
        raise ValueError(f"weights {cfg.weights!r} need {'no' if cfg.weights == 'random' else 'a'} backbone state")
    device = device or default_device()
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(cfg.seed)
    num_classes = len(data.classes)
    model = apply_strategy(build_resnet18(num_classes, g, backbone), cfg.strategy, cfg.k_stages).to(device)
    trainable = count_params(model, trainable_only=True)
    y_train, y_test = data.train.labels.to(device), data.test.labels.to(device)  # (N,), (M,)

    if cfg.strategy == "feature":  # fast path: the frozen backbone runs once, the head trains on stored features
        outside = features is not None  # computed before this run (the store's): its time is added to wall_s
        if features is None:
            features = compute_features(feature_config(cfg, data, "0" * 16), data, backbone, device)
        feats, test_feats = features.state["train"].to(device), features.state["test"].to(device)  # (N, 512)
        features_s = float(features.metrics["features_s"])  # paid once; reused from the store afterwards
        head, done = fit_head(cfg, feats, y_train, test_feats, y_test, num_classes,
                              torch.Generator().manual_seed(cfg.seed), on_progress, report_every)
        state = {f"fc.{k}": v.detach().to("cpu", copy=True) for k, v in head.state_dict().items()}
        wall_s = time.perf_counter() - t0 + (features_s if outside else 0.0)  # as if alone: backbone pass + head
        metrics = _metrics(wall_s, done, device, data, trainable, features_s=features_s)
        metrics["images_per_s"] = done.seen / (done.train_s + features_s)  # the one backbone pass included
        return Run(cfg, state, done.history, metrics, "diverged" if done.diverged else "ok", _blew_up(cfg, done))

    norm = normalization(cfg)
    images = TensorData(data.train.images.to(device), y_train, data.test.images.to(device), y_test,  # uint8
                        num_classes)  # (N, 3, 32, 32), (N,), (M, 3, 32, 32), (M,)
    done = train_loop(model, make_optimizer(model, cfg), images, _schedule(cfg, 256), g,
                      inputs=lambda xb: prepare(xb, cfg.resolution, norm),  # (b, 3, 32, 32) uint8 -> (b, 3, r, r)
                      keep_eval=frozen_norms(model), on_progress=on_progress, report_every=report_every)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    metrics = _metrics(time.perf_counter() - t0, done, device, data, trainable)
    return Run(cfg, state, done.history, metrics, "diverged" if done.diverged else "ok", _blew_up(cfg, done))


def model_of(run: Run, num_classes: int, backbone: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The eval-mode, frozen model a run describes (feature extraction: `backbone` + the run's head)."""
    model = build_resnet18(num_classes, torch.Generator().manual_seed(0), backbone)
    model.load_state_dict(run.state, strict=run.config.strategy != "feature")
    return model.requires_grad_(False).eval()


def gradient_norms(model: nn.Module, cfg: TransferConfig, images: torch.Tensor,
                   labels: torch.Tensor) -> list[LayerGrad]:
    """Per-layer gradient norms of one training step under `cfg`'s strategy, on a private copy of `model`
    (the shared model's mode, requires_grad and .grad are untouched). Frozen layers are exactly 0."""
    work = apply_strategy(copy.deepcopy(model), cfg.strategy, cfg.k_stages)
    set_train_mode(work)
    device = next(work.parameters()).device
    x = prepare(images.to(device), cfg.resolution, normalization(cfg))  # (B, 3, r, r)
    F.cross_entropy(work(x), labels.to(device)).backward()
    out = []
    for name, m in work.named_modules():
        params = list(m.parameters(recurse=False))
        if params:
            sq = sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None)
            out.append(LayerGrad(name, math.sqrt(sq), any(p.requires_grad for p in params)))
    return out


def time_per_image(model: nn.Module, cfg: TransferConfig, device: torch.device, batch: int = 8) -> tuple[float, float]:
    """(training seconds per image, inference seconds per image) under cfg's strategy and resolution, timed on a
    random batch after a warm-up, on a private copy of `model` (the caller's model is left untouched)."""
    g = torch.Generator().manual_seed(0)
    work = apply_strategy(copy.deepcopy(model), cfg.strategy, cfg.k_stages).to(device)
    num_classes = work.fc.out_features
    x = torch.randint(0, 256, (batch, 3, 32, 32), generator=g, dtype=torch.uint8).to(device)
    y = torch.randint(0, num_classes, (batch,), generator=g).to(device)
    norm = normalization(cfg)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def timed(fn: Callable[[], object]) -> float:
        fn()  # warm-up: allocator, kernels, optimizer state
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return (time.perf_counter() - t0) / batch

    def forward() -> None:
        with torch.inference_mode():
            work(prepare(x, cfg.resolution, norm))

    work.eval()
    if cfg.strategy == "feature":  # the one backbone pass as compute_features runs it; head epochs take milliseconds
        work = work.to(memory_format=feature_pass(cfg.resolution, device)[0])
        return 0.0, timed(lambda: extract_features(work, x, cfg.resolution, norm, device, batch=batch))
    infer = timed(forward)
    opt = make_optimizer(work, cfg)

    def train_step() -> None:
        loss = F.cross_entropy(work(prepare(x, cfg.resolution, norm)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    set_train_mode(work)
    return timed(train_step), infer


def estimate_seconds(cfg: TransferConfig, n_train: int, n_test: int, per_image: tuple[float, float]) -> float:
    """Wall time of a run: feature extraction = one backbone pass over train + test; otherwise every epoch
    trains on n_train images and evaluates n_test."""
    train_s, infer_s = per_image
    if cfg.strategy == "feature":
        return (n_train + n_test) * infer_s
    return cfg.epochs * (n_train * train_s + n_test * infer_s)


# ---------------------------------------------------------------- architecture, read from the layer table
@dataclass(frozen=True)
class Stage:
    name: str  # "conv1", "layer1", ..., "fc"
    output_shape: tuple[int, ...]  # for the chosen input, batch 1
    blocks: int  # BasicBlocks in the stage (0 for conv1/bn1/maxpool/avgpool/fc)
    projection: bool  # its first block's skip path has a 1x1 conv ("downsample") that changes the shape
    params: int


@dataclass(frozen=True)
class Anatomy:
    convs: int  # 3x3 / 7x7 convolutions on the main path (17 in ResNet-18)
    linears: int  # 1 (fc)
    projections: int  # 1x1 convs on skip paths (3); not counted in the "18"
    blocks: int  # BasicBlocks (8), each adds its input back: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + x)
    stages: tuple[Stage, ...]

    @property
    def weighted(self) -> int:
        return self.convs + self.linears


def anatomy(rows: Sequence[LayerRow]) -> Anatomy:
    """ResNet-18's structure counted from its layer table (core.inspection.layer_table rows)."""
    convs = [r for r in rows if r.kind == "Conv2d"]
    projections = sum(".downsample." in r.name for r in convs)
    stages = tuple(Stage(r.name, r.output_shape, sum(b.depth == 2 and b.kind == "BasicBlock" and
                                                     b.name.startswith(r.name + ".") for b in rows),
                         any(b.name.startswith(r.name + ".") and b.name.endswith(".downsample") for b in rows),
                         r.total_params)
                   for r in rows if r.depth == 1)
    return Anatomy(len(convs) - projections, sum(r.kind == "Linear" for r in rows), projections,
                   sum(r.kind == "BasicBlock" for r in rows), stages)


# ---------------------------------------------------------------- after training
def first_filters(state: dict[str, torch.Tensor], n: int = 16) -> torch.Tensor:
    """conv1's first `n` filters (n, 7, 7), summed over the RGB inputs (what a gray image sees)."""
    return state["conv1.weight"][:n].sum(1)  # (64, 3, 7, 7) -> (n, 7, 7)


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, cfg: TransferConfig, batch: int = 256) -> torch.Tensor:
    """Predicted class (N,) of uint8 images (N, 3, H, W) through an eval-mode model at cfg's resolution."""
    device = next(model.parameters()).device
    norm = normalization(cfg)
    return torch.cat([model(prepare(images[i:i + batch].to(device), cfg.resolution, norm)).argmax(1).cpu()
                      for i in range(0, len(images), batch)])


@dataclass(frozen=True)
class RunResult:
    """What the conclusion reads from one stored run."""

    label: str
    strategy: str
    acc: float  # target test accuracy, 0..1
    wall_s: float
    trainable: int


def conclusion(results: Sequence[RunResult]) -> str:
    """Plain words computed from the stored runs: the winner, its margin, its cost, and why scratch lost or won."""
    if not results:
        return ""
    ranked = sorted(results, key=lambda r: (-r.acc, r.wall_s))
    best = ranked[0]
    text = (f"**{best.label}** won with {100 * best.acc:.1f}% target accuracy in {best.wall_s:.1f} s, "
            f"training {best.trainable:,} parameters")
    if len(ranked) > 1:
        second = ranked[1]
        text += (f"; {100 * (best.acc - second.acc):.1f} points ahead of {second.label} "
                 f"({100 * second.acc:.1f}%, {second.wall_s:.1f} s, {second.trainable:,} trainable)")
    text += "."
    fastest = min(results, key=lambda r: r.wall_s)
    if fastest is not best:
        text += (f" The cheapest, {fastest.label}, took {fastest.wall_s:.1f} s "
                 f"({best.wall_s / max(fastest.wall_s, 1e-9):.1f}× less) for {100 * fastest.acc:.1f}%.")
    scratch = [r for r in results if r.strategy == "scratch"]
    pretrained = [r for r in results if r.strategy != "scratch"]
    if scratch and pretrained:
        s = max(scratch, key=lambda r: r.acc)
        beaten = [r for r in pretrained if r.acc <= s.acc]
        if beaten:
            text += (f" From scratch ({100 * s.acc:.1f}%) matched or beat {', '.join(r.label for r in beaten)}: "
                     f"the pretrained features do not fit this target well enough (a different source task, or a "
                     f"resolution far from the one the backbone was trained at), or the frozen part kept the "
                     f"network from adapting; with so few labels such a gap is also within run-to-run noise.")
        else:
            text += (f" Every pretrained strategy beat from scratch ({100 * s.acc:.1f}%): with few labels, "
                     f"features learned on the source task are worth more than 11 million fresh weights.")
    return text


# ---------------------------------------------------------------- offline source -> target (bundled digits)
def _to_rgb32(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) gray -> (N, 3, 32, 32): 2 px of zero padding per side, gray copied to 3 channels."""
    return F.pad(images, (2, 2, 2, 2)).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()  # (N, 3, 32, 32)


def digit_tasks(digits, labels_per_class: int, seed: int = 0) -> tuple[ImageTask, ImageTask]:
    """Source task: digits 0-4, every label. Target task: digits 5-9 (labels 0..4 = '5'..'9') with only
    `labels_per_class` labelled training images per class; tested on every test digit 5-9.
    `digits`: core.data.MNISTData (e.g. `load_sample()`)."""
    tr, te = digits.train, digits.test
    src_tr, src_te = tr.labels < 5, te.labels < 5
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in range(5, 10):
        idx = torch.nonzero(tr.labels == c).flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:labels_per_class]])
    few = torch.cat(picked).sort().values
    tgt_te = te.labels >= 5
    source = ImageTask("digits-source", f"Source task: {int(src_tr.sum()):,} labelled digits 0-4 (bundled MNIST)",
                       tuple("01234"), Split(_to_rgb32(tr.images[src_tr]), tr.labels[src_tr].clone()),
                       Split(_to_rgb32(te.images[src_te]), te.labels[src_te].clone()))
    target = ImageTask("digits-target", f"Target task: digits 5-9 with {labels_per_class} labelled images per class "
                       f"({len(few)} in all); tested on {int(tgt_te.sum()):,}", tuple("56789"),
                       Split(_to_rgb32(tr.images[few]), tr.labels[few] - 5),
                       Split(_to_rgb32(te.images[tgt_te]), te.labels[tgt_te] - 5))
    return source, target


def source_config(cfg: TransferConfig, epochs: int = 3) -> TransferConfig:
    """The pretraining run that "digits-pretrained" weights come from (stored and reused like any run)."""
    return replace(cfg, task="source", strategy="scratch", weights="random", source="digits", epochs=epochs,
                   k_stages=1, labels_per_class=1, subset=10)


def pretraining_config() -> TransferConfig:
    """The one pretraining every digits target starts from: 2 epochs over digits 0-4 at 32 px, Adam 1e-3, batch 64
    (a stored run like any other)."""
    return source_config(TransferConfig(head_lr=1e-3, batch_size=64), epochs=2)


def task_for(cfg: TransferConfig, data_dir: Path, digits=None) -> ImageTask:
    """cfg's task: digits 0-4 (source) or 5-9 with few labels (target) from `digits` (default: the bundled
    sample), or a class-balanced CIFAR-10 subset from `data_dir` (ValueError saying what is missing)."""
    if cfg.source == "cifar10":
        from core.cifar import load_cifar10

        cifar, note = load_cifar10(data_dir, allow_download=False)
        if cifar is None:
            raise ValueError(note)
        return cifar_task(cifar, cfg.subset)
    if digits is None:
        from core.data import load_sample

        digits = load_sample()
    source, target = digit_tasks(digits, cfg.labels_per_class)
    return source if cfg.task == "source" else target


def train_stored(cfg: TransferConfig, store, data_dir: Path, device: torch.device | None = None,
                 on_progress: OnProgress | None = None, digits=None) -> Run:
    """Train `cfg` with everything it starts from taken from (or put into) `store` (a core.store.RunStore):
    the digits pretraining run, and for feature extraction the backbone's stored features. The caller stores
    the returned run (`store.get_or_train(cfg, ...)`, as the worker does)."""
    from core.data import load_sample

    device = device or default_device()
    if digits is None and (cfg.source == "digits" or cfg.weights == "digits-pretrained"):
        digits = load_sample()  # decoded once for the task and the pretraining
    data = task_for(cfg, data_dir, digits)
    pre = ""
    if cfg.weights == "random":
        backbone = None
    elif cfg.weights == "imagenet":
        weights = load_imagenet_weights(allow_download=False)
        if not weights.ok:
            raise ValueError(f"{weights.reason} {weights.how_to}")
        backbone = weights.state
    else:
        pcfg = pretraining_config()
        src, _ = store.get_or_train(pcfg, lambda: fit_transfer(pcfg, task_for(pcfg, data_dir, digits), device))
        if src.status != "ok":
            raise ValueError(f"the pretraining on digits 0-4 did not finish: {src.reason}")
        backbone, pre = src.state, pcfg.key()
    features = None
    if cfg.strategy == "feature":
        fcfg = feature_config(cfg, data, pre)
        features, _ = store.get_or_train(fcfg, lambda: compute_features(fcfg, data, backbone, device))
    return fit_transfer(cfg, data, device, on_progress, backbone, features)


def cifar_task(cifar, subset: int, seed: int = 0) -> ImageTask:
    """A class-balanced `subset` of CIFAR-10's training images (core.cifar.CifarData), full test set."""
    g = torch.Generator().manual_seed(seed)
    per = max(1, subset // len(cifar.classes))
    idx = torch.cat([torch.nonzero(cifar.train.labels == c).flatten()[
        torch.randperm(int((cifar.train.labels == c).sum()), generator=g)[:per]] for c in range(len(cifar.classes))])
    idx = idx.sort().values
    return ImageTask("cifar10", f"{cifar.description}; training on {len(idx):,}", cifar.classes,
                     Split(cifar.train.images[idx].contiguous(), cifar.train.labels[idx].contiguous()), cifar.test)


def strategy_code(cfg: TransferConfig, num_classes: int) -> str:
    """The PyTorch code of `cfg`'s strategy, in the seed's style; run as is, it prints the trainable count."""
    weights = "ResNet18_Weights.IMAGENET1K_V1" if cfg.weights == "imagenet" else "None"
    lines = ["import torch", "from torch import nn", "from torchvision.models import resnet18, ResNet18_Weights", "",
             f"model = resnet18(weights={weights})"
             + ("" if cfg.weights != "digits-pretrained" else "  # then load the backbone pretrained on digits 0-4")]
    trainable = STRATEGIES[cfg.strategy].trainable(cfg.k_stages)
    if cfg.strategy in ("feature", "finetune"):
        lines += ["for p in model.parameters():  # freeze everything ...", "    p.requires_grad = False"]
    lines.append(f"model.fc = nn.Linear(512, {num_classes})  # a new head: trainable")
    if cfg.strategy == "finetune":
        stages = ", ".join(f"model.{s}" for s in STAGES[:cfg.k_stages])
        lines += [f"for stage in ({stages},):  # ... then unfreeze the last {cfg.k_stages}",
                  "    stage.requires_grad_(True)"]
    groups = [f'    {{"params": model.fc.parameters(), "lr": {cfg.head_lr:g}}},']
    backbone = [s for s in trainable if s != "fc"]
    if backbone:
        lr = cfg.head_lr if cfg.strategy == "scratch" else cfg.backbone_lr
        params = " + ".join(f"list(model.{s}.parameters())" for s in backbone)
        groups.append(f'    {{"params": {params}, "lr": {lr:g}}},')
    lines += ["optimizer = torch.optim.Adam([", *groups, "])",
              "trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)",
              'print(f"{trainable:,} trainable of {sum(p.numel() for p in model.parameters()):,}")']
    if cfg.strategy in ("feature", "finetune"):
        lines += ["# training: model.train(), then put frozen BatchNorm layers back in eval mode",
                  "# so their running statistics keep the pretrained values"]
    return "\n".join(lines) + "\n"
