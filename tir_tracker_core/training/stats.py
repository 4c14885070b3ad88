"""Training statistics: running means of the actor's stats, averaged over the processes every
``log.every`` steps, written by rank 0 to ``OUT/log.csv``, TensorBoard (when installed) and the
progress bar. A resumed run drops the log rows written after its checkpoint."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

from .config import LogConfig
from .distributed import DistInfo, all_mean

log = logging.getLogger(__name__)


class _Logger:
    """Rank-0 CSV (always) and TensorBoard (when installed) logs; resumable."""

    def __init__(self, out: Path, cfg: LogConfig, start: int) -> None:
        self.path = out / "log.csv"
        self.keys: list[str] | None = None
        self.tb: Any = None
        if self.path.is_file():
            self.keys = _truncate(self.path, start)
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tb"), purge_step=start + 1)
            except ImportError:
                log.info("tensorboard is not installed; logging to %s only", self.path)

    def write(self, step: int, values: dict[str, float]) -> None:
        if self.keys is None:
            self.keys = ["step", *values]
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.keys)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([step, *(f"{values.get(k, float('nan')):.6g}"
                                             for k in self.keys[1:])])
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _truncate(path: Path, step: int) -> list[str] | None:
    """Drop the rows of ``path`` after ``step`` (resume); returns its header, if any."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return None
    kept = [r for r in rows[1:] if r and int(r[0]) <= step]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *kept])
    return rows[0]


class StatsLog:
    """Accumulates each step's stats; :meth:`flush` averages them over the steps since the last
    flush and over the processes (a collective call: every rank makes it), adds ``lr`` and
    ``sec_per_step``, and logs them on rank 0. :attr:`last` holds the latest means."""

    def __init__(self, out: Path, cfg: LogConfig, info: DistInfo, start: int,
                 total: int) -> None:
        self.cfg = cfg
        self.info = info
        self.logger = _Logger(out, cfg, start) if info.is_main else None
        self.bar: Any = None
        if info.is_main and cfg.progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc="train", unit="step",
                            dynamic_ncols=True)
        self.acc: dict[str, float] = {}
        self.count = 0
        self.last: dict[str, float] = {}
        self.t_last = time.perf_counter()

    def due(self, done: int, end: int) -> bool:
        """Whether the stats are flushed after ``done`` steps of a run ending at ``end``."""
        return done % self.cfg.every == 0 or done == end

    def update(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.acc[k] = self.acc.get(k, 0.0) + v
        self.count += 1

    def flush(self, done: int, lr: float) -> None:
        keys = sorted(self.acc)
        means = all_mean([self.acc[k] / self.count for k in keys], self.info)
        now = time.perf_counter()
        self.last = dict(zip(keys, means))
        self.last["lr"] = lr
        self.last["sec_per_step"] = (now - self.t_last) / self.count
        self.t_last = now
        if self.logger is not None:
            self.logger.write(done, self.last)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{self.last.get('Loss/total', 0):.4f}", lr=f"{lr:.2e}")
        self.acc, self.count = {}, 0

    def advance(self) -> None:
        """One step done (the progress bar)."""
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.logger is not None:
            self.logger.close()
