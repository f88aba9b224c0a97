#!/usr/bin/env python3
"""Independent check of the ONNX exporter: onnxruntime runs FaceFlow's exported backbones.

For r50 and mbf (random weights, BatchNorm statistics randomised so BN folding matters), with
and without --fold-bn, at opsets 13 and 17, with a dynamic batch: export with
build/apps/onnx_export, check the file with onnx.checker, run it in onnxruntime (CPU) on a
random batch of 2 and compare with FaceFlow's own forward output for that batch
(--dump-reference). One static-batch export (batch 1) is checked as well. Then the op zoo
(tests/onnx/op_zoo.h: every exportable op in one model, written by op_zoo_dump) at opsets 16
and 17 (scatter_add needs 16). Passes when every max |ort - ff| / max |ff| <= 1e-4.

usage: check_with_onnxruntime.py EXPORTER OP_ZOO_DUMP WORKDIR
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-4


def export(exporter, workdir, network, opset, fold_bn, dynamic, batch):
    tag = f"{network}_op{opset}{'_fold' if fold_bn else ''}{'_dyn' if dynamic else '_static'}"
    model = workdir / f"{tag}.onnx"
    ref_in, ref_out = workdir / f"{tag}_in.npy", workdir / f"{tag}_out.npy"
    cmd = [str(exporter), "--random-init", "--randomize-bn-stats", "--seed", "5", "--network", network,
           "--output", str(model), "--opset", str(opset), "--dump-reference", str(ref_in), str(ref_out),
           "--reference-batch", str(batch)]
    if fold_bn:
        cmd.append("--fold-bn")
    if dynamic:
        cmd.append("--dynamic-batch")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return tag, model, ref_in, ref_out


def export_zoo(zoo_dump, workdir, opset):
    result = subprocess.run([str(zoo_dump), str(workdir), str(opset)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{zoo_dump} failed:\n{result.stdout}\n{result.stderr}")
    return (f"op_zoo_op{opset}", workdir / f"op_zoo_opset{opset}.onnx", workdir / "op_zoo_in.npy",
            workdir / "op_zoo_out.npy", "x", "y")


def check(tag, model, ref_in, ref_out, input_name="data", output_name="embedding"):
    onnx.checker.check_model(str(model), full_check=True)
    proto = onnx.load(str(model), load_external_data=False)
    assert [i.name for i in proto.graph.input] == [input_name], proto.graph.input
    assert [o.name for o in proto.graph.output] == [output_name], proto.graph.output
    ops = sorted({n.op_type for n in proto.graph.node})
    options = ort.SessionOptions()
    options.log_severity_level = 2  # warnings and errors
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    x = np.load(ref_in)
    want = np.load(ref_out)
    (got,) = session.run([output_name], {input_name: x})
    rel = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
    ok = got.shape == want.shape and rel <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'} {tag:24s} batch {x.shape[0]} shape {got.shape} max_rel_err {rel:.3e} "
          f"nodes {len(proto.graph.node)} ops {','.join(ops)}", flush=True)
    model.unlink()  # r50 files are ~170 MB each
    return ok


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exporter, zoo_dump, workdir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, tolerance {TOLERANCE}")
    cases = [(net, opset, fold, True, 2) for net in ("r50", "mbf") for opset in (13, 17) for fold in (False, True)]
    cases.append(("r50", 17, True, False, 1))
    failures = 0
    for case in cases:
        failures += not check(*export(exporter, workdir, *case))
    for opset in (16, 17):
        failures += not check(*export_zoo(zoo_dump, workdir, opset))
    total = len(cases) + 2
    print(f"{total - failures}/{total} exports match FaceFlow within {TOLERANCE}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
