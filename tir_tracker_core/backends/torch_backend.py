"""PyTorch backend: eager model, batched over targets, on the caller's device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import BackendUnavailableError
from .base import BACKENDS


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"device {device!r} asked for but CUDA is not available; "
                                      "use device 'cpu'")
    return dev


@BACKENDS.register("torch")
class TorchBackend:
    name = "torch"
    accepts_mono = True  # grey (N,1,H,W) crops are expanded to three equal channels

    def __init__(self, model: torch.nn.Module, device: str = "cpu", threads: int | None = 1) -> None:
        """``threads``: intra-op threads on the CPU (process-wide in PyTorch). One by default:
        on a small CPU shared with other nodes, two threads ran 10x slower than one here
        (the workers spin and get descheduled); ``None`` keeps PyTorch's setting."""
        self._dev = resolve_device(device)
        self.device = str(self._dev)
        if threads and self._dev.type == "cpu":
            torch.set_num_threads(threads)
        self.model = model.to(self._dev).eval()

    def _input(self, crops: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(crops).to(self._dev)
        return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t

    @torch.inference_mode()
    def template(self, crops: np.ndarray) -> list[Any]:
        zf = self.model.backbone(self._input(crops))
        return list(zf)

    @torch.inference_mode()
    def track(self, feats: list[Any], crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xf = self.model.backbone(self._input(crops))
        cls, loc = self.model.head(torch.stack(feats), xf)
        return cls.float().cpu().numpy(), loc.float().cpu().numpy()

    @torch.inference_mode()
    def features(self, images: np.ndarray) -> np.ndarray:
        return self.model.backbone(self._input(images)).float().cpu().numpy()

    @torch.inference_mode()
    def head(self, feats: list[Any], xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self.model.head(torch.stack(feats), torch.from_numpy(xf).to(self._dev))
        return cls.float().cpu().numpy(), loc.float().cpu().numpy()
