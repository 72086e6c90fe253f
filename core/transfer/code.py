"""The PyTorch code of a transfer strategy, in the seed's style; run as is, it prints the trainable count."""
from __future__ import annotations

from core.transfer.config import TransferConfig
from core.transfer.strategies import STAGES, STRATEGIES


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
