"""Sub-commands ``train`` and ``distill`` of ``tir-tracker`` (argument parsing only).

``tir_tracker_core.cli`` adds them with ``add_train_parser(subparsers)`` and
``add_distill_parser(subparsers)``; each sets ``func`` to a thin handler that calls the
library and prints the path of the final checkpoint as its last line (rank 0 only under
torchrun). ``python -m tir_tracker_core.training`` runs them standalone (useful with
``torchrun ... -m tir_tracker_core.training train ...``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def _common(p: argparse.ArgumentParser, default_config: str | None) -> None:
    p.add_argument("--config", default=default_config, help="YAML config file")
    p.add_argument("--out", required=True, help="output folder (checkpoints, logs, final model)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.steps=500 or "
                        "--set data.0.count=8 (repeatable; values are read as YAML)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="resume from the newest checkpoint in --out (default: on)")


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_train_config
    from .train import train

    path = train(load_train_config(args.config, args.overrides), args.out, resume=args.resume)
    if _is_main_process():
        print(path)
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from ..distill.config import load_distill_config
    from ..distill.distill import distill

    path = distill(load_distill_config(args.config, args.overrides), args.out,
                   resume=args.resume)
    if _is_main_process():
        print(path)
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a Siamese tracker on thermal sequences",
        description="Supervised Siamese training (template/search pairs, anchor-free labels). "
                    "Resumes from OUT/checkpoints after a kill; run under torchrun for several "
                    "processes. Prints the final checkpoint's path as the last line.")
    _common(p, None)
    p.set_defaults(func=cmd_train)
    return p


def add_distill_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "distill", help="distil an RGB tracker into a pruned thermal tracker",
        description="Cross-modal compression distillation: a frozen RGB teacher on visible "
                    "crops teaches a (pruned) student on the paired thermal crops. Resumes "
                    "after a kill; run under torchrun for several processes. Prints the final "
                    "student checkpoint's path as the last line.")
    _common(p, None)
    p.set_defaults(func=cmd_distill)
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    parser = argparse.ArgumentParser(prog="python -m tir_tracker_core.training")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_distill_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))
