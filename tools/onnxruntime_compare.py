#!/usr/bin/env python3
"""Runs an exported FaceFlow model in onnxruntime and compares it with FaceFlow's own output.

    onnx_export ... --output m.onnx --dump-reference in.npy out.npy
    .venv/bin/python tools/onnxruntime_compare.py m.onnx in.npy out.npy [--tolerance 1e-4]

onnxruntime (CPU execution provider) is the independent runtime: it shares no code with
FaceFlow. The check is max |ort - ff| / max |ff| <= tolerance. Exit status 0 when it holds.
"""
import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("reference_input")
    parser.add_argument("reference_output")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    onnx.checker.check_model(args.model, full_check=True)
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    x = np.load(args.reference_input)
    want = np.load(args.reference_output)
    input_name = session.get_inputs()[0].name
    got = session.run(None, {input_name: x})[0]
    if got.shape != want.shape:
        print(f"onnxruntime: output shape {got.shape} != FaceFlow's {want.shape}")
        return 1
    scale = float(np.max(np.abs(want))) or 1.0
    rel = float(np.max(np.abs(got - want))) / scale
    ok = rel <= args.tolerance
    print(f"onnxruntime {ort.__version__}: {args.model} input {input_name} {list(x.shape)} -> "
          f"{list(got.shape)}; max relative difference to FaceFlow {rel:.2e} "
          f"(tolerance {args.tolerance:.0e}): {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
