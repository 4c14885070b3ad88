"""ONNX Runtime backend: the four exported graphs on the CPU (or an ORT GPU build).

The network is exported once per checkpoint (``export.cached_export``) and run by four
``InferenceSession``s: ``template.onnx`` once per new target, ``track.onnx`` once per frame with
every target in one batch (split into runs of ``run_batch`` targets, side by side on
``workers`` threads), and for targets searched on a shared canvas (the tracker's
``SplitBackbone`` path) ``backbone.onnx`` once per canvas and ``head.onnx``. Template features
are kept as numpy arrays (one per target, owned by the ``Tracker``) and stacked once per frame.
Input and output buffers are bound through ``IOBinding`` into arrays preallocated per batch
size and calling thread, so a frame allocates no new tensors inside ORT.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, ConfigError
from .base import BACKENDS, usable_cpus
from .export import DEFAULT_OPSET, ExportedModel, cached_export, export_onnx
from .graph_surgery import mono_variant

log = logging.getLogger(__name__)

OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise BackendUnavailableError(
            "backend 'onnxruntime' needs the onnxruntime package: pip install onnxruntime "
            "(CPU) or onnxruntime-gpu (CUDA)") from None
    return onnxruntime


def session_options(threads: int | None = None, optimization: str = "all", spin: bool = False,
                    mem_arena: bool = True, profile_prefix: str | None = None) -> Any:
    """``SessionOptions`` for small per-frame CPU workloads.

    ``threads``: intra-op threads (None: ORT's default, one per physical core). ``spin``: let
    worker threads busy-wait between the ops of one run (never between runs); with more than
    one thread this is what makes the extra threads pay off on an idle machine, but it burns
    CPU and collapses when other processes hold the cores, so it is off by default.
    """
    ort = _ort()
    if optimization not in OPTIMIZATION_LEVELS:
        raise ConfigError(f"optimization {optimization!r} is not one of "
                          f"{', '.join(OPTIMIZATION_LEVELS)}")
    level = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
             "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
             "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
             "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads is not None:
        so.intra_op_num_threads = threads
    so.enable_cpu_mem_arena = mem_arena
    so.enable_mem_pattern = True
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    # spin only inside a run: between frames the worker threads sleep
    so.add_session_config_entry("session.force_spinning_stop", "1")
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


MAX_WORKERS = 4  # parallel runs per call; 16 targets at run_batch 4 make four


def default_workers() -> int:
    """``workers`` by default: one per CPU this process may use, at most ``MAX_WORKERS``."""
    return max(1, min(MAX_WORKERS, usable_cpus() or 1))


def _providers(device: str) -> tuple[list[str], str]:
    ort = _ort()
    available = ort.get_available_providers()
    if device in ("cpu", "auto"):
        if device == "auto" and "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"
        return ["CPUExecutionProvider"], "cpu"
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise BackendUnavailableError(
                f"device {device!r} asked for on backend 'onnxruntime', but this onnxruntime "
                f"build has no CUDA provider (available: {', '.join(available)}); install "
                "onnxruntime-gpu, use the 'tensorrt' backend, or use device 'cpu'")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], device
    raise ConfigError(f"device {device!r} is not one of cpu, cuda, cuda:N, auto")


class _Graph:
    """One session plus output buffers preallocated per batch size (IOBinding)."""

    def __init__(self, model: Path | bytes, so: Any, providers: list[str],
                 io_binding: bool) -> None:
        ort = _ort()
        src = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(src, so, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.io_binding = io_binding and providers[0] == "CPUExecutionProvider"
        # buffers per (batch size, calling thread): chunks of one call may run on two threads
        self._bound: dict[tuple[int, int], tuple[Any, list[np.ndarray]]] = {}

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run on C-contiguous float32 inputs; returns fresh output arrays."""
        feeds = dict(zip(self.inputs, arrays))
        key = (arrays[0].shape[0], threading.get_ident())
        if not self.io_binding:
            return self.session.run(self.outputs, feeds)
        if key not in self._bound:
            # first call at this batch size: a plain run gives the output shapes (the graphs'
            # spatial output dims are symbolic), then buffers of those shapes are bound
            outs = self.session.run(self.outputs, feeds)
            ort = _ort()
            binding = self.session.io_binding()
            bufs = [np.empty_like(o) for o in outs]
            for name, buf in zip(self.outputs, bufs):
                binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(buf))
            self._bound[key] = (binding, bufs)
            return outs
        binding, bufs = self._bound[key]
        for name, a in feeds.items():
            binding.bind_cpu_input(name, a)
        self.session.run_with_iobinding(binding)
        # copies: callers may keep results past the next call, the buffers are reused
        return [b.copy() for b in bufs]


@BACKENDS.register("onnxruntime")
class OnnxRuntimeBackend:
    """Exported graphs in ONNX Runtime.

    ``model``: a ``SiameseNet`` (exported on first use into the cache, or into ``export_dir``)
    or an ``ExportedModel`` from ``export.load_export``. Options:

    - ``threads``: intra-op threads, default 1 (on a small CPU shared with other nodes one
      thread per tracker is the fastest and the cheapest, see docs/backends.md); None: ORT's
      default, one per core.
    - ``spin``: busy-wait between the ops of a run (only pays with idle cores).
    - ``optimization``: graph optimisation level, default "all" (NCHWc layouts: 2.6x "basic").
    - ``run_batch``: most targets per session run, default 4; on a CPU larger batches spill
      activations out of the L2 cache and cost more per target. None: all in one run.
    - ``workers``: how many of one call's runs (``run_batch`` targets each) go side by side,
      each on its own thread with its own ``threads`` intra-op threads; None (default): one
      per CPU this process may use, at most ``MAX_WORKERS``. One target, or up to
      ``run_batch``, is one run and never waits on another thread; from ``run_batch + 1``
      targets the spare cores share the work (nothing spins: on busy cores the runs just
      take turns). 1: one run after another.
    - ``io_binding``, ``mem_arena``: preallocated output buffers, ORT's CPU arena.
    - ``cache_dir`` / ``export_dir``, ``opset``, ``verify``: where and how to export (``verify``
      checks ORT against PyTorch once, at export).
    - ``profile_prefix``: write ORT per-op profiles (``end_profiling()`` returns the files).

    Crops may have 1 channel instead of 3 (grey thermal crops, ``accepts_mono``): they run
    through variants of the graphs whose first convolution has its weights summed over the
    colour channels, which equals feeding the grey crop replicated to three channels.

    One instance serves one tracker: its reused buffers make it unsafe to call from two
    threads at once (build one backend per thread; its own ``workers`` keep buffers apart).
    """

    name = "onnxruntime"
    accepts_mono = True

    def __init__(self, model: Any, device: str = "cpu", *, threads: int | None = 1,
                 optimization: str = "all", spin: bool = False, mem_arena: bool = True,
                 io_binding: bool = True, cache_dir: str | Path | None = None,
                 export_dir: str | Path | None = None, opset: int = DEFAULT_OPSET,
                 verify: bool = True, profile_prefix: str | None = None,
                 run_batch: int | None = 4, workers: int | None = None) -> None:
        if workers is None:
            workers = default_workers()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive integer or None, got {workers!r}")
        self.workers = workers
        self._pool = (ThreadPoolExecutor(workers, thread_name_prefix="ort-batch")
                      if workers > 1 else None)
        if run_batch is not None and (isinstance(run_batch, bool) or not isinstance(run_batch, int)
                                      or run_batch < 1):
            raise ConfigError(f"run_batch must be a positive integer or None, got {run_batch!r}")
        self._chunk = run_batch or 1 << 30
        self._providers, self.device = _providers(device)
        if isinstance(model, ExportedModel):
            exported = model
        elif export_dir is not None:
            exported = export_onnx(model, export_dir, opset=opset, verify=verify)
        else:
            exported = cached_export(model, cache_dir, opset=opset, verify=verify)
        self.exported = exported
        self.model_cfg = exported.model
        self._so = session_options(threads, optimization, spin, mem_arena, profile_prefix)
        self._io_binding = io_binding
        self._graphs: dict[tuple[str, int], _Graph | None] = {
            ("template", 3): _Graph(exported.template, self._so, self._providers, io_binding),
            ("track", 3): _Graph(exported.track, self._so, self._providers, io_binding),
            ("head", 3): _Graph(exported.head, self._so, self._providers, io_binding),
            # canvases change size from frame to frame: no buffers bound per batch size
            ("backbone", 3): _Graph(exported.backbone, self._so, self._providers, False)}
        self._dynamic = exported.dynamic_batch
        log.info("onnxruntime backend: %s on %s (threads %s, workers %d, optimization %s)",
                 exported.directory, self._providers[0], threads or "default", workers,
                 optimization)

    def _graph(self, which: str, channels: int) -> tuple[_Graph, int]:
        """The graph for ``channels``-channel crops, and the channel count it takes."""
        if channels == 3:
            return self._graphs[(which, 3)], 3
        if channels != 1:
            raise ValueError(f"crops must have 1 or 3 channels, got {channels}")
        if ("template", 1) not in self._graphs:  # build all at the first grey crop (init)
            for name, path, inp in (("template", self.exported.template, "z"),
                                    ("track", self.exported.track, "x"),
                                    ("backbone", self.exported.backbone, "x")):
                data = mono_variant(path, inp)
                if data is None:
                    log.info("%s graph cannot take grey crops directly; replicating channels", name)
                    self._graphs[(name, 1)] = None
                else:
                    self._graphs[(name, 1)] = _Graph(data, self._so, self._providers,
                                                     self._io_binding and name != "backbone")
        g = self._graphs[(which, 1)]
        return (g, 1) if g is not None else (self._graphs[(which, 3)], 3)

    def _run(self, which: str, crops: np.ndarray, *rest: np.ndarray) -> list[np.ndarray]:
        graph, channels = self._graph(which, crops.shape[1])
        if channels != crops.shape[1]:
            crops = np.repeat(crops, channels, axis=1)
        arrays = tuple(np.ascontiguousarray(a, dtype=np.float32) for a in (*rest, crops))
        return self._chunked(graph, arrays)

    def _chunked(self, graph: _Graph, arrays: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        """``graph`` on batches of at most ``run_batch`` targets, the batches spread over
        ``workers`` threads (each run keeps its own intra-op threads), outputs in order."""
        n = len(arrays[0])
        step = self._chunk if self._dynamic else 1
        if n <= step:
            return graph.run(*arrays)
        chunks = [tuple(a[i:i + step] for a in arrays) for i in range(0, n, step)]
        if self._pool is None:
            parts = [graph.run(*c) for c in chunks]
        else:
            parts = list(self._pool.map(lambda c: graph.run(*c), chunks))
        return [np.concatenate(p) for p in zip(*parts)]

    def template(self, crops: np.ndarray) -> list[Any]:
        (zf,) = self._run("template", crops)
        return list(zf)  # views of one fresh array, one (C, h, w) feature per target

    def track(self, feats: list[Any], crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self._run("track", crops, np.stack(feats))
        return cls, loc

    def features(self, images: np.ndarray) -> np.ndarray:
        (xf,) = self._run("backbone", images)
        return xf

    def head(self, feats: list[Any], xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        graph = self._graphs[("head", 3)]
        zf = np.ascontiguousarray(np.stack(feats), np.float32)
        cls, loc = self._chunked(graph, (zf, np.ascontiguousarray(xf, np.float32)))
        return cls, loc

    def end_profiling(self) -> list[str]:
        """Stop ORT profiling (``profile_prefix``) and return the JSON trace files."""
        return [g.session.end_profiling() for g in self._graphs.values() if g is not None]
