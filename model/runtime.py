"""Run an exported step model (`model.onnx_export.export_onnx`) with onnxruntime.

`OnnxRunner` stands in for a streamable `Network` wherever the app steps a model:

    runner = OnnxRunner("small.onnx")
    state = runner.initial_state(1)
    logits, state = runner.step(x_t, state)   # x_t (1, 2, 88, 88) -> logits (1, C) torch tensor

The state has the same nested NamedTuple structure as the PyTorch model's (rebuilt from the
file's metadata), with torch tensors that share memory with onnxruntime's outputs, so a
PyTorch state can be fed to the runner and the other way round. Batch 1 only; no spike
recording (`step(..., record=True)` raises SpikeLipError). Session: `threads` intra-op threads
(by default `default_threads`), 1 inter-op, sequential, all graph optimisations, worker spinning
off unless `spinning=True`.

`HybridRunner(net)` is an OnnxRunner on a sparse export of a PyTorch model: dense convolutions
and gather-sparse spiking GRU layers (`GatherGRU`) in one onnxruntime graph.
"""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from model.onnx_export import FORMAT, META_KEY, count_leaves, flatten_leaves, make_builder
from stream.errors import SpikeLipError


def default_threads(path: Path) -> int:
    """Intra-op threads for a step model on a 2-core machine: one for small models, whose steps
    are too short to gain from a second thread (bundled `small`, 2 MB: p50 0.46 ms on one thread,
    0.55 on two), two for large ones (`paper-causal` sparse, 115 MB: 12.0 ms on one, 8.3 on two);
    `benchmarks/bench_onnx_threads.py`."""
    return 1 if path.stat().st_size < 16e6 else 2


def _session_options(threads: int, spinning: bool = False):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # Spin-waiting worker threads keep a core busy between steps; on a 2-core machine that
    # core is needed by the reader, binner, GUI (or torch's own threads): measured here, an
    # interleaved torch step took 2x longer with spinning on, while the ONNX step gained nothing.
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
        n = len(self.state_shapes)
        if count_leaves(meta["state_structure"]) != n:
            raise SpikeLipError(f"{self.path}: state structure and state shapes disagree")
        self._check_graph(n)
        self._state_names = [f"state.{i}" for i in range(n)]
        self._output_names = ["logits"] + [f"new_state.{i}" for i in range(n)]
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
        want_in = ["x"] + [f"state.{i}" for i in range(n)]
        want_out = ["logits"] + [f"new_state.{i}" for i in range(n)]
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
        """One bin x_t (1, 2, S, S) -> (logits_t (1, C) torch tensor, new state)."""
        if record:
            raise SpikeLipError(
                "the ONNX runner cannot record per-layer spikes; use the PyTorch model for rasters"
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
        out = self._run(self._output_names, feed)
        # Tensors share memory with the arrays, and tuples are immutable, so the arrays stay
        # exactly what the returned state holds.
        new_state = self._build_state([torch.from_numpy(a) for a in out[1:]])
        self._last_state = new_state
        self._last_feed = dict(zip(self._state_names, out[1:]))
        return torch.from_numpy(out[0]), new_state

    def __repr__(self) -> str:
        return f"OnnxRunner({str(self.path)!r}, model={self.name!r})"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# --- gather-sparse spiking GRU backend --------------------------------------------------------

def _dense_matvec(v: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    return v @ wt


def _gather_matvec(v: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    idx = v.nonzero().squeeze(1)
    return v.index_select(0, idx) @ wt.index_select(0, idx)


class GatherGRU(nn.Module):
    """A SpikGRU/SpikGRU2(+) layer's step that reads only the weight rows of non-zero inputs.

    W x and U s are sums over the active inputs of W's (U's) columns, stored transposed so each
    active input is one contiguous row: with ~10 % spikes it touches ~10 % of the weights that
    a dense matmul streams from memory every step. Inputs denser than `max_density` fall back
    to the dense matmul (an ONNX If when exported). Same maths as `layer.step` (summation order
    differs: ~1e-6).
    """

    def __init__(self, layer, max_density: float = 0.3):
        from model.recurrent import SpikGRU, SpikGRU2

        if not isinstance(layer, SpikGRU):
            raise SpikeLipError(f"gather backend supports the SpikGRU family, not {type(layer).__name__}")
        super().__init__()
        self.layer = layer
        self.two_gates = isinstance(layer, SpikGRU2)
        self.max_density = max_density
        with torch.no_grad():
            self.register_buffer("wt", layer.w.weight.detach().t().contiguous())  # (F, n)
            self.register_buffer("b", layer.w.bias.detach().clone())
            self.register_buffer("ut", layer.u.weight.detach().t().contiguous())  # (H, n)

    def _sparse_matvec(self, x: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        """x (1, F) @ wt (F, n) -> (n,), via the rows of x's non-zero entries."""
        v = x[0]
        limit = self.max_density * v.numel()
        if torch.compiler.is_exporting():  # a data-dependent branch must be traced as one
            return torch.cond(torch.count_nonzero(v) > limit, _dense_matvec, _gather_matvec, (v, wt))
        idx = v.nonzero().squeeze(1)
        if idx.numel() > limit:
            return v @ wt
        if idx.numel() == 0:
            return wt.new_zeros(wt.shape[1])
        return v.index_select(0, idx) @ wt.index_select(0, idx)

    def step(self, x_t: torch.Tensor, state):
        from model.recurrent import SpikGRUState
        from model.spikes import VTH

        layer = self.layer
        wx = self.b + self._sparse_matvec(x_t, self.wt)
        us = self._sparse_matvec(state.s, self.ut)
        if self.two_gates:
            wr, wz, wi = wx.chunk(3)
            ur, uz, ui = us.chunk(3)
            r = torch.sigmoid(wr + ur)
            z = torch.sigmoid(wz + uz)
            i = layer.alpha * state.i + (wi + (ui + layer.b_ri) * r)
        else:
            wz, wi = wx.chunk(2)
            uz, ui = us.chunk(2)
            z = torch.sigmoid(wz + uz)
            i = layer.alpha * state.i + (wi + ui)
        v = z * state.v + (1.0 - z) * i - VTH * state.s
        s = layer._fire(v)
        return s, SpikGRUState(i, v, s)


# --- one onnxruntime graph: dense convolutions, gather-sparse recurrent layers -----------------

class _BinwiseConv3d(nn.Module):
    """The causal stem's Conv3d over its kt-bin window as kt summed 2-channel 2-D convolutions.

    Same maths (summation order differs: ~1e-7): onnxruntime runs these with its direct NCHWc
    kernel but a Conv3d through im2col, measured 1.5-2x slower for the stem.
    """

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        self.weight = conv.weight
        self.stride, self.padding = conv.stride[1:], conv.padding[1:]

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        out = sum(
            F.conv2d(window[:, :, k], self.weight[:, :, k], None, self.stride, self.padding)
            for k in range(self.weight.shape[2])
        )
        return out.unsqueeze(2)


class SparseStep(nn.Module):
    """`net.step` as `HybridRunner`'s graph computes it: binwise stem, gather-sparse GRU layers.

    Built for export only (eval mode, no dropout); the frontend is a copy, net is unchanged.
    """

    def __init__(self, net):
        super().__init__()
        if not net.streamable:
            raise SpikeLipError(f"model {net.name!r} is not streamable")
        self.layers = nn.ModuleList(GatherGRU(layer, 0.3) for layer in net.backend)
        self.frontend = copy.deepcopy(net.frontend).eval()
        stem = self.frontend.stages[0]
        stem.conv = _BinwiseConv3d(stem.conv)
        self.readout = net.readout

    def step(self, x_t: torch.Tensor, state):
        from model.network import NetworkState

        h, front = self.frontend.step(x_t, state.frontend)
        back = []
        for layer, st in zip(self.layers, state.backend):
            h, st = layer.step(h, st)
            back.append(st)
        return self.readout(h), NetworkState(front, tuple(back))


class HybridRunner(OnnxRunner):
    """`OnnxRunner` on a temporary `export_onnx(net, sparse=True)` of net: batch 1, CPU.

    Dense convolutions and gather-sparse recurrent layers (`GatherGRU`: dense above 30 %
    active inputs) run in one onnxruntime call: a GatherGRU step there measured 1.5-2x faster
    than in PyTorch, whose per-op overhead dominates at batch 1, and no PyTorch thread pool is
    involved. States are interchangeable with the PyTorch model's; `step(..., record=True)`
    raises SpikeLipError.
    """

    def __init__(self, net, threads: int = 1, spinning: bool = False):
        from model.onnx_export import export_onnx

        with tempfile.TemporaryDirectory(prefix="spikelip-hybrid-") as tmp:
            super().__init__(export_onnx(net, Path(tmp) / "step.onnx", sparse=True), threads, spinning)
        self.path = Path(f"{net.name} (hybrid)")  # what errors name: the export is gone

    def __repr__(self) -> str:
        return f"HybridRunner(model={self.name!r})"
