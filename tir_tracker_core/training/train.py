"""``tir-tracker train``: supervised Siamese training on thermal template / search pairs."""

from __future__ import annotations

import datetime
import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from ..checkpoint import Checkpoint, atomic_write_bytes, save_checkpoint
from ..config import FrameConfig, ModelConfig, TrackerConfig, from_dict, to_dict
from ..models import PRESETS, SiameseNet, build_model
from .actors import SiameseActor
from .config import TrainConfig
from .data import ClipSet, PairSampler, StepBatches
from .distributed import DistInfo, barrier, init_distributed, shutdown
from .loop import LoopSettings, Task, make_groups, run_loop

log = logging.getLogger(__name__)


def init_model(spec: str) -> tuple[SiameseNet, TrackerConfig, FrameConfig, dict[str, Any]]:
    """A network to start from: a preset name (random weights, seeded by the caller),
    ``nanotrack:FILE.pth`` or a ``.safetensors`` checkpoint of ours."""
    if spec in PRESETS:
        from ..api import nanotrack_tracker_config

        model = build_model(PRESETS.get(spec)())
        return model, nanotrack_tracker_config(spec), FrameConfig(), {"source": f"preset:{spec}"}
    from ..api import load_model

    model, tcfg, fcfg, info = load_model(spec)
    return model, tcfg, fcfg, {"source": info.get("source", spec)}


def freeze_batchnorm(module: nn.Module) -> None:
    """Put every BatchNorm in eval mode (running statistics fixed; affine still trains)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def git_commit() -> str | None:
    """The commit of the source tree this package runs from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).parent, capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(command: str, cfg: Any, steps: int, info: DistInfo, **extra: Any) -> dict[str, Any]:
    return {"command": command, "config": to_dict(cfg), "steps": steps, "seed": cfg.seed,
            "world_size": info.world, "git_commit": git_commit(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, **extra}


def prepare_run(out: Path, cfg: Any, info: DistInfo) -> None:
    """Start of a ``train`` / ``distill`` run: compute threads, seeds, the output folder and
    the resolved config (``OUT/config.yaml``, written by rank 0)."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if info.is_main:
        atomic_write_bytes(out / "config.yaml",
                           yaml.safe_dump(to_dict(cfg), sort_keys=False).encode())


def interpolate(trained: dict[str, torch.Tensor], initial: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """``alpha * trained + (1 - alpha) * initial`` for float tensors (others: trained)."""
    return {k: torch.lerp(initial[k].to(v.dtype), v, alpha) if v.is_floating_point() else v
            for k, v in trained.items()}


def _initial_weights(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    torch.manual_seed(cfg.seed)  # presets: the same random initialisation as the run
    model, *_ = init_model(cfg.model.init)
    return model.state_dict()


class SiameseTask(Task):
    """Supervised training of one ``SiameseNet``."""

    def __init__(self, model: SiameseNet, cfg: TrainConfig, batches: StepBatches) -> None:
        self.model = model
        self.cfg = cfg
        self.batches = batches
        self.actor = SiameseActor(model, model.cfg, cfg.loss)

    def trainable(self) -> nn.Module:
        return self.model

    def arch(self) -> dict[str, Any]:
        return {"model": to_dict(self.model.cfg)}

    def rebuild(self, arch: dict[str, Any]) -> None:
        mcfg = from_dict(ModelConfig, arch["model"])
        if mcfg != self.model.cfg:
            self.model = build_model(mcfg)
            self.actor = SiameseActor(self.model, mcfg, self.cfg.loss)

    def param_groups(self) -> list[dict[str, Any]]:
        o = self.cfg.optim
        named = list(self.model.named_parameters())
        bb = [(n, p) for n, p in named if n.startswith("backbone.")]
        head = [(n, p) for n, p in named if not n.startswith("backbone.")]
        return (make_groups("backbone", bb, o.backbone_lr_mult, o.weight_decay, o.freeze)
                + make_groups("head", head, 1.0, o.weight_decay, o.freeze))

    def train_mode(self) -> None:
        self.model.train()
        if self.cfg.model.freeze_bn:
            freeze_batchnorm(self.model)


def train(cfg: TrainConfig, out: str | Path, resume: bool = True,
          stop_after: int | None = None) -> Path:
    """Train a Siamese tracker; returns the path of ``OUT/final.safetensors``.

    Checkpoints go to ``OUT/checkpoints`` and a run restarted with the same ``out`` resumes from
    the newest one (unless ``resume`` is False). Run under ``torchrun`` for data parallelism.
    ``stop_after``: stop after that many steps with a checkpoint (a later call resumes) and
    return the ``OUT/checkpoints`` folder instead; no final model is written then.
    """
    out = Path(out)
    info = init_distributed(cfg.device)
    try:
        prepare_run(out, cfg, info)
        model, tcfg, fcfg, src_info = init_model(cfg.model.init)
        clips = ClipSet(cfg.data, cfg.sampler.min_box_size, single_modality=True)
        sampler = PairSampler(clips, cfg.sampler, model.cfg, ("tir",), seed=cfg.seed)
        batches = StepBatches(sampler, cfg.optim.batch_size, info.rank, info.world)
        task = SiameseTask(model, cfg, batches)
        settings = LoopSettings(cfg.optim, cfg.log, cfg.checkpoint, cfg.seed, cfg.workers, cfg)
        result = run_loop(task, settings, out, info, resume, stop_after)
        if result.steps < cfg.optim.total_steps:
            return out / "checkpoints"
        path = out / "final.safetensors"
        if info.is_main:
            net = task.model.cpu().eval()
            weights = {k: v.detach().cpu() for k, v in net.state_dict().items()}
            if cfg.model.wise < 1.0:
                weights = interpolate(weights, _initial_weights(cfg), cfg.model.wise)
            ckpt = Checkpoint(net.cfg, weights, tcfg, fcfg,
                              provenance("train", cfg, result.steps, info, init=src_info,
                                         wise=cfg.model.wise, final_stats=result.last_stats))
            save_checkpoint(ckpt, path)
            log.info("final model: %s", path)
        barrier(info)
        return path
    finally:
        shutdown(info)
