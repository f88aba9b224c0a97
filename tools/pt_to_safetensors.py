#!/usr/bin/env python3
"""Convert arcface_torch backbone weights (model.pt) to FaceFlow safetensors, and back.

    python3 tools/pt_to_safetensors.py model.pt model.safetensors [--network r100]
    python3 tools/pt_to_safetensors.py --reverse model.safetensors model.pt

Forward: loads the PyTorch file (a backbone state_dict as arcface_torch's train_v2.py saves it,
or a checkpoint_gpu_<rank>.pt, from which "state_dict_backbone" is taken) and writes every
tensor name-for-name into a safetensors file, dtypes preserved (float32 stays F32, float16 F16,
num_batches_tracked stays an int64 scalar, I64). FaceFlow's backbones (models/model_factory.h)
use arcface_torch's state_dict names, so the file loads strictly:

    auto model = ff::models::create_backbone("r100");
    model->load_state_dict(ff::load_safetensors("model.safetensors").tensors);

or check it with: build/apps/model_info --network r100 --weights model.safetensors

Reverse: reads a FaceFlow safetensors weights file (or the "model." section of a FaceFlow
training checkpoint) and saves an OrderedDict state_dict with torch.save, which arcface_torch's
get_model(...).load_state_dict(torch.load(path)) accepts.

Only torch and the standard library are used: the safetensors container is written and read
here (8-byte little-endian header length, JSON header {name: {dtype, shape, data_offsets}} and
optional "__metadata__", then the raw little-endian data). The container half (write_safetensors,
read_safetensors) does not need torch; tools/test_pt_to_safetensors.py tests it.
"""

import argparse
import collections
import ctypes
import json
import os
import struct
import sys

# safetensors dtype -> element size in bytes. These are the dtypes FaceFlow reads (any other
# dtype in a file is an error there, so it is rejected here first).
DTYPE_SIZES = collections.OrderedDict(
    [("F64", 8), ("I64", 8), ("F32", 4), ("I32", 4), ("F16", 2), ("BF16", 2), ("U8", 1), ("BOOL", 1)]
)

# Known backbones: (state_dict entries, parameter elements) of arcface_torch's get_model(name)
# with embedding size 512 [derived; the parameter counts match face_recognition.md 4.3].
KNOWN_NETWORKS = {
    "r18": (187, 24025600),
    "r34": (331, 34139328),
    "r50": (475, 43590848),
    "r100": (925, 65156160),
    "r200": (1807, 118833920),
    "mbf": (333, 2059520),
    "mbf_large": (606, 6314880),
}
BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


class ConversionError(Exception):
    """A problem with an input file or its contents; the message names the file or tensor."""


TensorRecord = collections.namedtuple("TensorRecord", ["name", "dtype", "shape", "data"])
"""One tensor: safetensors dtype string, shape (list of ints, [] for a scalar), raw LE bytes."""


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# ---- the safetensors container (pure Python) ------------------------------------------------------


def write_safetensors(path, records, metadata=None):
    """Writes `records` (TensorRecords) to `path` atomically (temporary file, fsync, rename).

    The header keeps the records' order; the data is laid out largest element size first
    (stable otherwise), so each tensor starts at a multiple of its element size. The header is
    padded with spaces to a multiple of 8 bytes.
    """
    names = set()
    for r in records:
        if r.name in names:
            raise ConversionError("duplicate tensor name %r" % r.name)
        if r.name == "__metadata__":
            raise ConversionError("'__metadata__' is reserved and cannot name a tensor")
        names.add(r.name)
        if r.dtype not in DTYPE_SIZES:
            raise ConversionError("tensor %r: dtype %r is not one of %s" % (r.name, r.dtype, ", ".join(DTYPE_SIZES)))
        if any((not isinstance(d, int)) or d < 0 for d in r.shape):
            raise ConversionError("tensor %r: bad shape %r" % (r.name, r.shape))
        expected = _numel(r.shape) * DTYPE_SIZES[r.dtype]
        if len(r.data) != expected:
            raise ConversionError(
                "tensor %r: %d data bytes, but shape %r x %s needs %d" % (r.name, len(r.data), r.shape, r.dtype, expected)
            )
    ordered = sorted(records, key=lambda r: -DTYPE_SIZES[r.dtype])  # sorted() is stable

    header = collections.OrderedDict()
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ConversionError("metadata keys and values must be strings, got %r: %r" % (k, v))
        header["__metadata__"] = collections.OrderedDict(metadata)
    offsets, offset = {}, 0
    for r in ordered:
        offsets[r.name] = [offset, offset + len(r.data)]
        offset += len(r.data)
    # The header lists the tensors in the caller's order (a state_dict's module order, which
    # read_safetensors returns), whatever the data layout.
    for r in records:
        header[r.name] = collections.OrderedDict(
            [("dtype", r.dtype), ("shape", list(r.shape)), ("data_offsets", offsets[r.name])]
        )
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * ((8 - (8 + len(header_bytes)) % 8) % 8)

    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header_bytes)))
            f.write(header_bytes)
            for r in ordered:
                f.write(r.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _reject_duplicates(pairs):
    seen = collections.OrderedDict()
    for k, v in pairs:
        if k in seen:
            raise ConversionError("duplicate key %r in the JSON header" % k)
        seen[k] = v
    return seen


def read_safetensors(path):
    """Reads and validates a safetensors file; returns (records in header order, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ConversionError("%s: %d bytes, too short for the 8-byte header length" % (path, len(blob)))
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        raise ConversionError("%s: header length %d runs past the end of the file (%d bytes)" % (path, header_len, len(blob)))
    try:
        header = json.loads(blob[8 : 8 + header_len].decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise ConversionError("%s: malformed JSON header: %s" % (path, e))
    if not isinstance(header, dict):
        raise ConversionError("%s: the JSON header is not an object" % path)
    data = blob[8 + header_len :]

    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ConversionError("%s: __metadata__ must map strings to strings" % path)

    records, spans = [], []
    for name, entry in header.items():
        where = "%s: tensor %r" % (path, name)
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ConversionError("%s: entry must have exactly dtype, shape and data_offsets" % where)
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise ConversionError("%s: dtype %r is not one of %s" % (where, dtype, ", ".join(DTYPE_SIZES)))
        if not isinstance(shape, list) or any(type(d) is not int or d < 0 for d in shape):
            raise ConversionError("%s: bad shape %r" % (where, shape))
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise ConversionError("%s: data_offsets must be two integers, got %r" % (where, offsets))
        begin, end = offsets
        if not 0 <= begin <= end <= len(data):
            raise ConversionError("%s: data_offsets %r outside the %d-byte data section" % (where, offsets, len(data)))
        if end - begin != _numel(shape) * DTYPE_SIZES[dtype]:
            raise ConversionError("%s: %d bytes for shape %r x %s" % (where, end - begin, shape, dtype))
        if dtype == "BOOL" and any(b > 1 for b in data[begin:end]):
            raise ConversionError("%s: BOOL bytes must be 0 or 1" % where)
        records.append(TensorRecord(name, dtype, shape, bytes(data[begin:end])))
        spans.append((begin, end, name))

    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise ConversionError(
                "%s: tensor %r starts at %d where %d was expected (gap or overlap)" % (path, name, begin, position)
            )
        position = end
    if position != len(data):
        raise ConversionError("%s: %d trailing bytes after the last tensor" % (path, len(data) - position))
    return records, metadata


# ---- torch <-> records ----------------------------------------------------------------------------


def _torch_dtypes(torch):
    return collections.OrderedDict(
        [
            (torch.float64, "F64"),
            (torch.int64, "I64"),
            (torch.float32, "F32"),
            (torch.int32, "I32"),
            (torch.float16, "F16"),
            (torch.bfloat16, "BF16"),
            (torch.uint8, "U8"),
            (torch.bool, "BOOL"),
        ]
    )


def _check_little_endian():
    if sys.byteorder != "little":
        raise ConversionError("this converter copies raw memory and needs a little-endian machine")


def state_dict_to_records(torch, state_dict):
    """Tensors -> TensorRecords, name for name, dtype preserved (raw bytes via ctypes, no numpy)."""
    _check_little_endian()
    to_str = _torch_dtypes(torch)
    records = []
    for name, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ConversionError("entry %r is a %s, not a tensor" % (name, type(value).__name__))
        t = value.detach().to("cpu").contiguous()
        if t.dtype not in to_str:
            raise ConversionError("tensor %r: dtype %s has no FaceFlow equivalent" % (name, t.dtype))
        nbytes = t.numel() * t.element_size()
        data = ctypes.string_at(t.data_ptr(), nbytes) if nbytes > 0 else b""
        records.append(TensorRecord(name, to_str[t.dtype], list(t.shape), data))
    return records


def records_to_state_dict(torch, records):
    _check_little_endian()
    from_str = {v: k for k, v in _torch_dtypes(torch).items()}
    out = collections.OrderedDict()
    for r in records:
        dtype = from_str[r.dtype]
        if len(r.data) == 0:
            out[r.name] = torch.empty(r.shape, dtype=dtype)
        else:
            out[r.name] = torch.frombuffer(bytearray(r.data), dtype=dtype).reshape(r.shape).clone()
    return out


def _load_torch_file(torch, path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def select_state_dict(torch, obj, key, path):
    """The backbone state_dict inside what torch.load returned."""
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise ConversionError("%s: no entry %r (top-level keys: %s)" % (path, key, _keys(obj)))
        obj = obj[key]
    elif isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for candidate in ("state_dict_backbone", "state_dict", "model"):
            if candidate in obj and isinstance(obj[candidate], dict):
                print("%s: using the %r entry" % (path, candidate))
                obj = obj[candidate]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConversionError("%s: not a state_dict of tensors; pick one with --key (top-level keys: %s)" % (path, _keys(obj)))
    return obj


def _keys(obj):
    return ", ".join(list(map(str, obj.keys()))[:10]) if isinstance(obj, dict) else type(obj).__name__


def strip_prefix(state_dict, prefix):
    """Drops `prefix` from every key ("auto": "module." when every key has it, as DDP saves)."""
    if prefix == "auto":
        prefix = "module." if state_dict and all(k.startswith("module.") for k in state_dict) else ""
    if not prefix:
        return state_dict
    missing = [k for k in state_dict if not k.startswith(prefix)]
    if missing:
        raise ConversionError("--strip-prefix %r: key %r does not start with it" % (prefix, missing[0]))
    return collections.OrderedDict((k[len(prefix) :], v) for k, v in state_dict.items())


def check_network(records, network):
    """Compares entry and parameter counts with the known arcface_torch network."""
    if network not in KNOWN_NETWORKS:
        raise ConversionError("unknown --network %r; known: %s" % (network, ", ".join(KNOWN_NETWORKS)))
    entries, params = KNOWN_NETWORKS[network]
    got_params = sum(_numel(r.shape) for r in records if not r.name.endswith(BUFFER_SUFFIXES))
    if len(records) != entries or got_params != params:
        raise ConversionError(
            "not an arcface_torch %s with 512-d embeddings: %d entries and %d parameter elements, expected %d and %d"
            % (network, len(records), got_params, entries, params)
        )


# ---- command line ---------------------------------------------------------------------------------------


def _import_torch():
    try:
        import torch  # noqa: PLC0415 - only the conversions need it
    except ImportError:
        raise ConversionError("PyTorch is required for the conversion (pip install torch)")
    return torch


def convert_forward(args):
    torch = _import_torch()
    state_dict = select_state_dict(torch, _load_torch_file(torch, args.input), args.key, args.input)
    state_dict = strip_prefix(state_dict, args.strip_prefix)
    records = state_dict_to_records(torch, state_dict)
    if args.network:
        check_network(records, args.network)
    metadata = collections.OrderedDict([("source", "arcface_torch"), ("converted_from", os.path.basename(args.input))])
    if args.network:
        metadata["network"] = args.network
    write_safetensors(args.output, records, metadata)
    print("%s -> %s: %d tensors" % (args.input, args.output, len(records)))


def convert_reverse(args):
    torch = _import_torch()
    records, metadata = read_safetensors(args.input)
    if metadata.get("format") == "faceflow.checkpoint":
        # A training checkpoint: the backbone is the "model." section.
        records = [r._replace(name=r.name[len("model.") :]) for r in records if r.name.startswith("model.")]
        print("%s: FaceFlow checkpoint, taking its model.* section" % args.input)
    if args.network:
        check_network(records, args.network)
    torch.save(records_to_state_dict(torch, records), args.output)
    print("%s -> %s: %d tensors" % (args.input, args.output, len(records)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="model.pt (or checkpoint_gpu_N.pt); with --reverse, a .safetensors file")
    p.add_argument("output", help="the .safetensors file to write; with --reverse, the .pt file")
    p.add_argument("--reverse", action="store_true", help="safetensors -> PyTorch state_dict")
    p.add_argument("--key", help="entry of a checkpoint dict holding the state_dict (default: detect)")
    p.add_argument("--strip-prefix", default="auto", help="prefix to drop from every key (default: 'module.' if all have it)")
    p.add_argument("--network", help="check the tensors against a known network: " + ", ".join(KNOWN_NETWORKS))
    args = p.parse_args(argv)
    try:
        (convert_reverse if args.reverse else convert_forward)(args)
    except (ConversionError, OSError) as e:
        print("pt_to_safetensors: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
