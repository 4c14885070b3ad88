"""Helpers shared by the backend tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np


def random_crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, 3, size, size)).astype(np.float32)


def assert_outputs_close(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...],
                         rtol: float = 1e-3, atol: float = 1e-3) -> None:
    for x, y, name in zip(a, b, ("cls", "loc")):
        assert x.shape == y.shape, name
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=name)
