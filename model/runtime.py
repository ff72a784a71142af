"""Run an exported step model (`model.onnx_export.export_onnx`) with onnxruntime.

`OnnxRunner` stands in for a streamable `Network` wherever the app steps a model:

    runner = OnnxRunner("small.onnx")
    state = runner.initial_state(1)
    logits, state = runner.step(x_t, state)   # x_t (1, 2, 88, 88) -> logits (1, C) torch tensor

The state has the same nested NamedTuple structure as the PyTorch model's (rebuilt from the
file's metadata), with torch tensors that share memory with onnxruntime's outputs, so a
PyTorch state can be fed to the runner and the other way round. Batch 1 only; spike
recording (`step(..., record=True)`) only from an export made with `spikes=True` (else it
raises SpikeLipError). Session: `threads` intra-op threads
(by default `default_threads`), 1 inter-op, sequential, all graph optimisations, worker spinning
off unless `spinning=True`.

`HybridRunner(net)` is an OnnxRunner on a sparse export of a PyTorch model: dense convolutions
and gather-sparse spiking GRU layers (`model.sparse.GatherGRU`) in one onnxruntime graph.
Both satisfy `model.stepper.Stepper`, as `Network` does.

Imports run one way: onnx_format <- sparse <- onnx_export <- runtime.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from model.onnx_export import export_onnx
from model.onnx_format import FORMAT, META_KEY, count_leaves, flatten_leaves, make_builder
from model.sparse import GatherGRU, SparseStep
from stream.errors import SpikeLipError

__all__ = ["GatherGRU", "HybridRunner", "OnnxRunner", "SparseStep", "default_threads"]


def default_threads(path: Path) -> int:
    """Intra-op threads for a step model on a 2-core machine: one for small models, whose steps
    are too short to gain from a second thread (bundled `small` sparse, 2 MB: p50 0.53 ms on one
    thread, 0.78 on two), two for large ones (`paper-causal` sparse, 115 MB: 9.5 ms on one, 6.4
    on two); `benchmarks/bench_onnx_threads.py`, results/onnx_threads.json."""
    return 1 if path.stat().st_size < 16e6 else 2


def _session_options(threads: int, spinning: bool = False):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # Spin-waiting worker threads keep a core busy between steps; on a 2-core machine that
    # core is needed by the reader, binner, GUI (or torch's own threads).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    return opts


def _as_array(leaf) -> np.ndarray:
    if isinstance(leaf, np.ndarray):
        return leaf
    if isinstance(leaf, torch.Tensor):
        return leaf.detach().numpy()
    return np.asarray(leaf, dtype=np.float32)


class OnnxRunner:
    """A step-only stand-in for `Network`, backed by an onnxruntime CPU session."""

    streamable = True
    training = False

    def __init__(self, path, threads: int | None = None, spinning: bool = False):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise SpikeLipError(f"{self.path}: no such ONNX file")
        threads = threads or default_threads(self.path)
        try:
            self.session = ort.InferenceSession(
                str(self.path), _session_options(threads, spinning), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise SpikeLipError(f"{self.path}: not a readable ONNX model ({_first_line(exc)})") from exc
        meta = self._read_metadata()
        self.config = dict(meta["config"])
        self.words = list(meta["words"])
        self.frame_shape = tuple(meta["frame_shape"])
        self.state_shapes = [tuple(s) for s in meta["state_shapes"]]
        self._build_state = make_builder(meta["state_structure"])
        self.spike_layers = list(meta.get("spike_layers", []))  # what step(..., record=True) returns
        n = len(self.state_shapes)
        if count_leaves(meta["state_structure"]) != n:
            raise SpikeLipError(f"{self.path}: state structure and state shapes disagree")
        self._state_names = [f"state.{i}" for i in range(n)]
        self._output_names = ["logits"] + [f"new_state.{i}" for i in range(n)]
        self._record_names = self._output_names + [f"spikes.{i}" for i in range(len(self.spike_layers))]
        self._check_graph(n)
        self._run = self.session.run
        self._last_state = None  # the state the last step returned, and its arrays
        self._last_feed: dict = {}

    # --- loading checks ------------------------------------------------------------------
    def _read_metadata(self) -> dict:
        props = self.session.get_modelmeta().custom_metadata_map
        raw = props.get(META_KEY)
        if raw is None:
            raise SpikeLipError(
                f"{self.path}: not a SpikeLip step model (no '{META_KEY}' metadata); "
                "export one with `spikelip export --model NAME --out FILE.onnx`"
            )
        try:
            meta = json.loads(raw)
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            for key in ("config", "words", "frame_shape", "state_shapes", "state_structure"):
                meta[key]  # noqa: B018 (presence check)
        except (ValueError, KeyError, TypeError) as exc:
            raise SpikeLipError(f"{self.path}: unreadable SpikeLip metadata ({exc})") from exc
        if len(meta["words"]) != meta["config"].get("num_classes"):
            raise SpikeLipError(f"{self.path}: metadata word list does not match num_classes")
        return meta

    def _check_graph(self, n: int) -> None:
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        want_in = ["x"] + self._state_names
        want_out = self._record_names  # every output the export has, spikes included
        problems = []
        if sorted(inputs) != sorted(want_in):
            problems.append(f"inputs {sorted(inputs)[:4]}... (expected x, state.0..state.{n - 1})")
        elif list(inputs["x"]) != [1, *self.frame_shape]:
            problems.append(f"input x has shape {inputs['x']}, metadata says {[1, *self.frame_shape]}")
        else:
            for i, shape in enumerate(self.state_shapes):
                if list(inputs[f"state.{i}"]) != list(shape):
                    problems.append(f"state.{i} has shape {inputs[f'state.{i}']}, metadata says {list(shape)}")
                    break
        if sorted(outputs) != sorted(want_out):
            problems.append(f"outputs {sorted(outputs)[:4]}... (expected logits, new_state.0..)")
        if problems:
            raise SpikeLipError(f"{self.path}: graph does not match its SpikeLip metadata: {'; '.join(problems)}")

    # --- Network-like API ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.get("name", self.path.stem)

    def eval(self):
        return self

    def train(self, mode: bool = True):
        if mode:
            raise SpikeLipError(f"{self.path}: an ONNX model runs inference only")
        return self

    def initial_state(self, batch_size: int = 1):
        """The zero state (batch 1 only: the graph is exported for batch 1)."""
        if batch_size != 1:
            raise SpikeLipError(f"{self.path}: the ONNX step model runs batch 1 only, not {batch_size}")
        return self._build_state([torch.zeros(s, dtype=torch.float32) for s in self.state_shapes])

    def step(self, x_t, state, record: bool = False):
        """One bin x_t (1, 2, S, S) -> (logits_t (1, C) torch tensor, new state); with record,
        also {layer: (1, units) spikes} as `Network.step` gives them."""
        if record and not self.spike_layers:
            raise SpikeLipError(
                f"{self.path}: cannot record per-layer spikes: this export has no spike outputs (export "
                "with spikes=True, or use the PyTorch model for rasters)"
            )
        x = _as_array(x_t)
        if x.shape[1:] != self.frame_shape or x.shape[0] != 1:
            raise SpikeLipError(
                f"model step input has shape {tuple(x.shape)}; this ONNX model takes "
                f"(1, {', '.join(map(str, self.frame_shape))})"
            )
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if state is self._last_state:  # our own previous output: its arrays are at hand
            feed = self._last_feed
        else:
            feed = dict(zip(self._state_names, map(_as_array, flatten_leaves(state))))
        feed["x"] = x
        out = self._run(self._record_names if record else self._output_names, feed)
        leaves = out[1:len(self._output_names)]
        # Tensors share memory with the arrays, and tuples are immutable, so the arrays stay
        # exactly what the returned state holds.
        new_state = self._build_state([torch.from_numpy(a) for a in leaves])
        self._last_state = new_state
        self._last_feed = dict(zip(self._state_names, leaves))
        if record:
            spikes = out[len(self._output_names):]
            return torch.from_numpy(out[0]), new_state, dict(zip(self.spike_layers, map(torch.from_numpy, spikes)))
        return torch.from_numpy(out[0]), new_state

    def __repr__(self) -> str:
        return f"OnnxRunner({str(self.path)!r}, model={self.name!r})"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class HybridRunner(OnnxRunner):
    """`OnnxRunner` on a temporary `export_onnx(net, sparse=True)` of net: batch 1, CPU.

    Dense convolutions and gather-sparse recurrent layers (`model.sparse.GatherGRU`: dense
    above 30 % active inputs) run in one onnxruntime call, with no PyTorch thread pool involved
    (timed against the dense export and eager PyTorch by `benchmarks/bench_runtime.py`).
    States are interchangeable with the PyTorch model's; `step(..., record=True)` raises
    SpikeLipError.
    """

    def __init__(self, net, threads: int = 1, spinning: bool = False):
        with tempfile.TemporaryDirectory(prefix="spikelip-hybrid-") as tmp:
            super().__init__(export_onnx(net, Path(tmp) / "step.onnx", sparse=True), threads, spinning)
        self.path = Path(f"{net.name} (hybrid)")  # what errors name: the export is gone

    def __repr__(self) -> str:
        return f"HybridRunner(model={self.name!r})"
