"""``python -m tir_tracker_core.training {train,distill} ...`` (also under torchrun)."""

import sys

from .cli import main

if __name__ == "__main__":  # data-loading workers are spawned and re-import this module
    sys.exit(main())
