"""SIGTERM to ``ros2 launch``: a clean shutdown with exit code 0, as SIGINT gives.

``launch`` (3.x, ros2_extras and Kilted) routes signals through its
``AsyncSafeSignalManager`` (``signal.set_wakeup_fd``), but it installs no Python-level
SIGTERM handler: unless something else in the launch process did (rclpy would), SIGTERM
keeps its default action and the launch process dies at once (exit -15, its nodes
orphaned). And where a handler exists, launch's own SIGTERM callback cancels its run task
(exit 1, "using SIGTERM can result in orphaned processes").

:func:`stop_on_sigterm` (an ``OpaqueFunction`` the package's launch files run first)
installs a Python handler (so the signal reaches launch's wakeup socket instead of killing
the process) and replaces launch's SIGTERM callback with one that emits the ``Shutdown``
event: launch sends SIGINT to every process it started, waits for them (SIGTERM /
SIGKILL after its usual timeouts) and exits 0. systemd (``KillMode=control-group``) and
``docker stop`` then stop a launch like Ctrl-C does. A launch version without the manager
keeps its upstream behaviour (logged).
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def _manager() -> Any:
    try:
        from launch.utilities.signal_management import AsyncSafeSignalManager
    except ImportError:
        return None
    return getattr(AsyncSafeSignalManager, "_AsyncSafeSignalManager__current", None)


def stop_on_sigterm(context: Any, *args: Any, **kwargs: Any) -> list:
    """``OpaqueFunction`` body: SIGTERM shuts the launch down like SIGINT (see the module
    docstring). Idempotent (two_cameras.launch.py includes tracker.launch.py twice)."""
    import launch.logging
    from launch.events import Shutdown

    logger = launch.logging.get_logger("tir_tracker_ros.launch")
    manager = _manager()
    if manager is None or threading.current_thread() is not threading.main_thread():
        logger.warning("SIGTERM handling of this launch version is unchanged (no signal "
                       "manager found): prefer SIGINT to stop it")
        return []
    if getattr(manager, "_tir_tracker_sigterm", False):
        return []
    received = []

    def on_sigterm(signum: int) -> None:
        if received:
            logger.warning("SIGTERM again, ignoring (shutting down)")
            return
        received.append(signum)
        logger.info("SIGTERM received: shutting down (as on SIGINT)")
        context.emit_event_sync(Shutdown(reason="SIGTERM"))

    # A Python-level handler makes the C handler write to launch's wakeup socket instead of
    # the default action (terminate); the callback above then runs in launch's event loop.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, lambda *_: None)
    manager.handle(signal.SIGTERM, on_sigterm)
    manager._tir_tracker_sigterm = True
    return []
