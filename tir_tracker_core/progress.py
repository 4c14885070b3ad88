"""Progress bars for long runs: a tqdm bar on stderr when stderr is a terminal, nothing else.

Library functions take ``progress: bool`` (off by default) and make their bar with :func:`bar`;
the CLI passes :func:`on_terminal` so that a run piped into a file or a CI log stays quiet.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

__all__ = ["bar", "on_terminal"]


def on_terminal() -> bool:
    """Whether stderr (where bars go) is a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
        unit: str = "frame", enabled: bool = True) -> tqdm:
    """A tqdm bar on stderr (``enabled=False``: a silent one that still counts and iterates).

    ``total`` ``None`` or 0 (unknown length): the bar shows counts and rates without a
    percentage.
    """
    return tqdm(iterable, total=total or None, desc=desc, unit=unit, disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, leave=False)
