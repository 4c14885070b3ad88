"""``python -m tir_tracker_core.training {train,distill} ...``: the same as
``python -m tir_tracker_core.cli`` (kept because docs/training.md names it; the commands and
their flags live in ``tir_tracker_core.cli`` only)."""

import sys

if __name__ == "__main__":  # data-loading workers are spawned and re-import this module
    from ..cli import main

    sys.exit(main())
