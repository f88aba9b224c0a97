#!/usr/bin/env python3
"""Writes an InsightFace validation .bin whose images are numpy uint8 arrays, as in the
faces_emore release's cfp_fp.bin / agedb_30.bin (cv2.imencode output: shape (n, 1), dtype uint8).

    make_numpy_bin.py --out X.bin --style py3 --protocol 2 a.jpg b.jpg c.jpg d.jpg

The JPEG files form pairs (1st+2nd, 3rd+4th, ...); issame alternates True, False, ... unless
--issame 1,0,... is given. Styles:
  py2  what Python 2 wrote (protocol 2; byte strings and names as STRING opcodes, not
       _codecs.encode / BINUNICODE): emulated with a pickler subclass, since Python 2 itself is gone;
  py3  pickle.dump from this Python 3 at --protocol (2 to 5). Protocol 5 makes numpy use
       _frombuffer with an in-band buffer instead of _reconstruct + BUILD.
--readonly pickles read-only arrays (np.frombuffer without a copy): at protocol 5 their bytes
become BINBYTES instead of BYTEARRAY8.
Used by tests/data_formats/numpy_bin_test.cpp (needs python3-numpy, see scripts/setup.sh).
"""
import argparse
import io
import pickle
import struct
import sys

import numpy as np


class Py2StylePickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table is editable
    """Protocol 2 as Python 2 wrote it: str/bytes both become SHORT_BINSTRING / BINSTRING."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--style", choices=["py2", "py3"], default="py3")
    p.add_argument("--protocol", type=int, default=2)
    p.add_argument("--readonly", action="store_true")
    p.add_argument("--issame", default="")
    p.add_argument("jpegs", nargs="+")
    a = p.parse_args()
    if len(a.jpegs) % 2:
        sys.exit("make_numpy_bin.py: need an even number of images (pairs), got %d" % len(a.jpegs))
    bins = []
    for path in a.jpegs:
        with open(path, "rb") as f:
            raw = np.frombuffer(f.read(), dtype=np.uint8).reshape(-1, 1)
        bins.append(raw if a.readonly else raw.copy())
    pairs = len(a.jpegs) // 2
    if a.issame:
        issame = [s.strip() == "1" for s in a.issame.split(",")]
        if len(issame) != pairs:
            sys.exit("make_numpy_bin.py: %d issame values for %d pairs" % (len(issame), pairs))
    else:
        issame = [i % 2 == 0 for i in range(pairs)]
    buf = io.BytesIO()
    if a.style == "py2":
        Py2StylePickler(buf, protocol=2).dump((bins, issame))
    else:
        pickle.dump((bins, issame), buf, protocol=a.protocol)
    with open(a.out, "wb") as f:
        f.write(buf.getvalue())


if __name__ == "__main__":
    main()
