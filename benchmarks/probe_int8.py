"""Would int8 weights make the `paper-causal` step faster in onnxruntime? Kernel by kernel, at
batch 1 and the shapes of `paper-causal`, fp32 against int8 weights with exact spike inputs:

- GRU matrices (MatMul, 1 x K @ K x 3H): `MatMulInteger` with uint8 spikes and int8 weights
  (per-column scale). Signed spikes -1/0/+1 stay exact as uint8 s + 1 with `a_zero_point` 1.
  Also int8 x int8, which onnxruntime runs without its fast kernel.
- Frontend convolutions on binary spikes: `ConvInteger`, and an im2col `Gather` followed by
  `MatMulInteger`, against fp32 `Conv`.

Errors are those of int8 weights alone (inputs are exact), as the largest difference from fp32
relative to the fp32 output's standard deviation: a spiking layer compares these outputs with a
threshold, so this is the scale of the spike flips to expect. Every input here is binary spikes;
the stem's real input is event counts, so its row times the kernel only. Results: results/int8.json.

    .venv/bin/python benchmarks/probe_int8.py [--threads 1] [--runs 300]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_result  # noqa: E402

# (name, K, N): the input and recurrent matrices of paper-causal's three SpikGRU2+ layers of 1024
MATRICES = [("gru0.w", 512, 3072), ("gru.u and gru1-2.w", 1024, 3072)]
# (name, in, out, map side, kernel, stride, how many in one step)
CONVS = [("stem (one of 5 taps)", 2, 64, 88, 7, 2, 5), ("res1", 64, 64, 22, 3, 1, 4),
         ("res2 first", 64, 128, 22, 3, 2, 1), ("res2", 128, 128, 11, 3, 1, 3),
         ("res3 first", 128, 256, 11, 3, 2, 1), ("res3", 256, 256, 6, 3, 1, 3),
         ("res4 first", 256, 512, 6, 3, 2, 1), ("res4", 512, 512, 3, 3, 1, 3)]


def session(nodes, inputs, initializers, threads: int):
    graph = helper.make_graph(nodes, "probe", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def p50_ms(sess, x: np.ndarray, runs: int) -> tuple[float, np.ndarray]:
    for _ in range(20):
        sess.run(None, {"x": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        y = sess.run(None, {"x": x})[0]
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3), y


def quantise(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per output channel (`axis` is the reduced one)."""
    scale = np.abs(w).max(axis=axis, keepdims=True) / 127
    return np.round(w / scale).astype(np.int8), scale.astype(np.float32)


def matrices(rng, threads: int, runs: int) -> list[dict]:
    rows = []
    for name, k, n in MATRICES:
        w = (rng.standard_normal((k, n)) * k**-0.5).astype(np.float32)
        wq, scale = quantise(w, 0)
        x = rng.choice([-1.0, 0.0, 1.0], size=(1, k), p=[0.15, 0.7, 0.15]).astype(np.float32)
        inp = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])]
        tail = [helper.make_node("Cast", ["yi"], ["yf"], to=TensorProto.FLOAT), helper.make_node("Mul", ["yf", "s"], ["y"])]
        fp32 = session([helper.make_node("MatMul", ["x", "w"], ["y"])], inp, {"w": w}, threads)
        u8 = session([helper.make_node("Add", ["x", "one"], ["x1"]),
                      helper.make_node("Cast", ["x1"], ["xu"], to=TensorProto.UINT8),
                      helper.make_node("MatMulInteger", ["xu", "wq", "zp"], ["yi"]), *tail],
                     inp, {"wq": wq, "s": scale, "one": np.ones(1, np.float32), "zp": np.ones(1, np.uint8)}, threads)
        s8 = session([helper.make_node("Cast", ["x"], ["xs"], to=TensorProto.INT8),
                      helper.make_node("MatMulInteger", ["xs", "wq"], ["yi"]), *tail], inp, {"wq": wq, "s": scale}, threads)
        t32, y32 = p50_ms(fp32, x, runs)
        tu8, yu8 = p50_ms(u8, x, runs)
        ts8, ys8 = p50_ms(s8, x, runs)
        assert np.allclose(yu8, ys8, atol=1e-5), "the two int8 forms must agree exactly"
        rows.append({"matrix": name, "k": k, "n": n, "fp32_ms": round(t32, 4), "uint8_spikes_ms": round(tu8, 4),
                     "int8_spikes_ms": round(ts8, 4), "speedup_uint8": round(t32 / tu8, 2),
                     "max_error_over_std": round(float(np.abs(yu8 - y32).max() / y32.std()), 4)})
        print(rows[-1])
    return rows


def im2col_index(cin: int, side: int, k: int, stride: int) -> tuple[np.ndarray, int]:
    pad, padded = k // 2, side + 2 * (k // 2)
    out = (side + 2 * pad - k) // stride + 1
    oy, ox = np.meshgrid(np.arange(out) * stride, np.arange(out) * stride, indexing="ij")
    c, ky, kx = np.meshgrid(np.arange(cin), np.arange(k), np.arange(k), indexing="ij")
    index = (c.reshape(1, -1) * padded * padded + (oy.reshape(-1, 1) + ky.reshape(1, -1)) * padded
             + ox.reshape(-1, 1) + kx.reshape(1, -1))
    return index.astype(np.int64), out


def convolutions(rng, threads: int, runs: int) -> list[dict]:
    rows = []
    for name, cin, cout, side, k, stride, count in CONVS:
        w = (rng.standard_normal((cout, cin, k, k)) * (cin * k * k) ** -0.5).astype(np.float32)
        wq, scale = quantise(w, (1, 2, 3))
        pad = k // 2
        x = (rng.random((1, cin, side, side)) < 0.2).astype(np.float32)
        inp = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
        attrs = {"pads": [pad] * 4, "strides": [stride] * 2}
        fp32 = session([helper.make_node("Conv", ["x", "w"], ["y"], **attrs)], inp, {"w": w}, threads)
        conv_int = session([helper.make_node("Cast", ["x"], ["xu"], to=TensorProto.UINT8),
                            helper.make_node("ConvInteger", ["xu", "wq"], ["yi"], **attrs),
                            helper.make_node("Cast", ["yi"], ["yf"], to=TensorProto.FLOAT),
                            helper.make_node("Mul", ["yf", "s"], ["y"])], inp, {"wq": wq, "s": scale.reshape(1, cout, 1, 1)},
                           threads)
        index, out = im2col_index(cin, side, k, stride)
        im2col = session([helper.make_node("Cast", ["x"], ["xu"], to=TensorProto.UINT8),
                          helper.make_node("Pad", ["xu", "pads"], ["xp"]),
                          helper.make_node("Reshape", ["xp", "flat"], ["xf"]),
                          helper.make_node("Gather", ["xf", "index"], ["cols"]),
                          helper.make_node("MatMulInteger", ["cols", "wm"], ["yi"]),
                          helper.make_node("Cast", ["yi"], ["yf"], to=TensorProto.FLOAT),
                          helper.make_node("Mul", ["yf", "s"], ["ys"]),
                          helper.make_node("Transpose", ["ys"], ["yt"], perm=[1, 0]),
                          helper.make_node("Reshape", ["yt", "shape"], ["y"])], inp,
                         {"wm": np.ascontiguousarray(wq.reshape(cout, -1).T), "s": scale.reshape(-1), "index": index,
                          "pads": np.array([0, 0, pad, pad, 0, 0, pad, pad], np.int64), "flat": np.array([-1], np.int64),
                          "shape": np.array([1, cout, out, out], np.int64)}, threads)
        t32, y32 = p50_ms(fp32, x, runs)
        tci, yci = p50_ms(conv_int, x, runs)
        tic, yic = p50_ms(im2col, x, runs)
        assert np.allclose(yci, yic, atol=1e-5), "ConvInteger and im2col must agree exactly"
        rows.append({"conv": name, "in": cin, "out": cout, "side": side, "per_step": count, "fp32_ms": round(t32, 4),
                     "conv_integer_ms": round(tci, 4), "im2col_int8_ms": round(tic, 4),
                     "max_error_over_std": round(float(np.abs(yic - y32).max() / y32.std()), 4)})
        print(rows[-1])
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    mats, convs = matrices(rng, args.threads, args.runs), convolutions(rng, args.threads, args.runs)
    per_step = {
        "gru_fp32_ms": round(sum(r["fp32_ms"] * n for r, n in zip(mats, (1, 5))), 3),  # 6 matrices, one of them gru0.w
        "gru_uint8_ms": round(sum(r["uint8_spikes_ms"] * n for r, n in zip(mats, (1, 5))), 3),
        "frontend_fp32_ms": round(sum(r["fp32_ms"] * r["per_step"] for r in convs), 3),
        "frontend_best_int8_ms": round(sum(min(r["fp32_ms"], r["conv_integer_ms"], r["im2col_int8_ms"]) * r["per_step"]
                                           for r in convs), 3),
    }
    print(per_step)
    write_result("int8", {"threads": args.threads, "runs": args.runs, "ort": ort.__version__, "matrices": mats,
                          "convolutions": convs, "per_step": per_step})
    return 0


if __name__ == "__main__":
    sys.exit(main())
