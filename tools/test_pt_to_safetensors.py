#!/usr/bin/env python3
"""Tests of tools/pt_to_safetensors.py.

    python3 tools/test_pt_to_safetensors.py

The safetensors half is pure Python and always runs. The torch half (state_dict <-> records,
the command line both ways) runs only where PyTorch is installed and is skipped otherwise.
"""

import collections
import json
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pt_to_safetensors as conv  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


class SafetensorsContainer(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "t.safetensors")

    def tearDown(self):
        self.dir.cleanup()

    def write_raw(self, header, data=b"", header_len=None):
        h = json.dumps(header).encode()
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", len(h) if header_len is None else header_len) + h + data)

    def test_round_trip_keeps_names_dtypes_shapes_and_bytes(self):
        records = [
            conv.TensorRecord("conv1.weight", "F32", [2, 1, 1, 1], f32(0.5, -1.25)),
            conv.TensorRecord("bn1.num_batches_tracked", "I64", [], struct.pack("<q", 7)),
            conv.TensorRecord("half", "F16", [3], struct.pack("<3H", 0x3C00, 0xC000, 0x7BFF)),
            conv.TensorRecord("bf", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x4049)),
            conv.TensorRecord("mask", "BOOL", [2], b"\x01\x00"),
            conv.TensorRecord("empty", "F32", [0, 4], b""),
            conv.TensorRecord("d", "F64", [1], struct.pack("<d", 3.25)),
        ]
        conv.write_safetensors(self.path, records, {"source": "test"})
        back, metadata = conv.read_safetensors(self.path)
        self.assertEqual(metadata, {"source": "test"})
        self.assertEqual({r.name: r for r in back}, {r.name: r for r in records})

    def test_layout_is_aligned_and_largest_element_first(self):
        records = [
            conv.TensorRecord("a_half", "F16", [1], b"\x00\x3c"),
            conv.TensorRecord("b_float", "F32", [1], f32(1.0)),
            conv.TensorRecord("c_int64", "I64", [], struct.pack("<q", 1)),
        ]
        conv.write_safetensors(self.path, records)
        with open(self.path, "rb") as f:
            blob = f.read()
        (n,) = struct.unpack("<Q", blob[:8])
        self.assertEqual((8 + n) % 8, 0)
        header = json.loads(blob[8 : 8 + n].decode())
        self.assertNotIn("__metadata__", header)
        self.assertEqual(header["c_int64"]["data_offsets"], [0, 8])
        self.assertEqual(header["b_float"]["data_offsets"], [8, 12])
        self.assertEqual(header["a_half"]["data_offsets"], [12, 14])
        self.assertEqual(header["c_int64"]["shape"], [])
        self.assertEqual(len(blob), 8 + n + 14)

    def test_reads_a_hand_written_file(self):
        # Written independently of the module's writer: key order, no padding, F32 + I64.
        header = {
            "__metadata__": {"format": "pt"},
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
            "n": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},
        }
        self.write_raw(header, struct.pack("<q", -3) + f32(1.5, 2.0))
        records, metadata = conv.read_safetensors(self.path)
        self.assertEqual([r.name for r in records], ["w", "n"])  # header order
        self.assertEqual(struct.unpack("<2f", records[0].data), (1.5, 2.0))
        self.assertEqual(struct.unpack("<q", records[1].data), (-3,))
        self.assertEqual(metadata, {"format": "pt"})

    def expect_error(self, fragment):
        with self.assertRaises(conv.ConversionError) as ctx:
            conv.read_safetensors(self.path)
        self.assertIn(fragment, str(ctx.exception))

    def test_rejects_malformed_files(self):
        with open(self.path, "wb") as f:
            f.write(b"\x01\x02")
        self.expect_error("too short")
        self.write_raw({}, header_len=1000)
        self.expect_error("runs past the end")
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", 3) + b"{x}")
        self.expect_error("malformed JSON")
        self.write_raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, f32(1, 2) + b"\x00")
        self.expect_error("trailing bytes")
        self.write_raw({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, f32(1))
        self.expect_error("dtype 'Q9'")
        self.write_raw({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, f32(1, 2))
        self.expect_error("8 bytes for shape [3]")
        self.write_raw(
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
            },
            f32(1, 2, 3),
        )
        self.expect_error("gap or overlap")
        self.write_raw({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})
        self.expect_error("bad shape")
        self.write_raw({"a": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}}, b"\x02")
        self.expect_error("0 or 1")
        with open(self.path, "wb") as f:
            h = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
            f.write(struct.pack("<Q", len(h)) + h + b"\x00")
        self.expect_error("duplicate key 'a'")

    def test_writer_validates_records(self):
        with self.assertRaises(conv.ConversionError):
            conv.write_safetensors(self.path, [conv.TensorRecord("a", "F32", [2], f32(1))])
        with self.assertRaises(conv.ConversionError):
            conv.write_safetensors(self.path, [conv.TensorRecord("a", "I16", [1], b"\x00\x00")])
        with self.assertRaises(conv.ConversionError):
            conv.write_safetensors(
                self.path, [conv.TensorRecord("a", "U8", [1], b"\x00"), conv.TensorRecord("a", "U8", [1], b"\x00")]
            )
        self.assertFalse(os.path.exists(self.path))  # nothing written, no temporary left
        self.assertEqual(os.listdir(self.dir.name), [])

    def test_network_check_counts_parameters_not_buffers(self):
        records = [conv.TensorRecord("w", "F32", [2], f32(1, 2))]
        with self.assertRaises(conv.ConversionError) as ctx:
            conv.check_network(records, "r50")
        self.assertIn("expected 475 and 43590848", str(ctx.exception))
        with self.assertRaises(conv.ConversionError):
            conv.check_network(records, "r101")


@unittest.skipIf(torch is None, "PyTorch is not installed: the torch half of the converter is not tested")
class TorchConversion(unittest.TestCase):
    def test_state_dict_round_trip_through_the_command_line(self):
        sd = collections.OrderedDict(
            [
                ("conv1.weight", torch.randn(4, 3, 3, 3)),
                ("bn1.running_var", torch.rand(4)),
                ("bn1.num_batches_tracked", torch.tensor(12, dtype=torch.int64)),
                ("fc.weight", torch.randn(2, 4).half()),
                ("features.bias", torch.randn(2).bfloat16()),
            ]
        )
        with tempfile.TemporaryDirectory() as d:
            pt, st, back = (os.path.join(d, n) for n in ("model.pt", "model.safetensors", "back.pt"))
            torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), pt)
            self.assertEqual(conv.main([pt, st]), 0)
            records, metadata = conv.read_safetensors(st)
            self.assertEqual(metadata["source"], "arcface_torch")
            by_name = {r.name: r for r in records}
            self.assertEqual(by_name["bn1.num_batches_tracked"].dtype, "I64")
            self.assertEqual(by_name["bn1.num_batches_tracked"].shape, [])
            self.assertEqual(by_name["fc.weight"].dtype, "F16")
            self.assertEqual(conv.main(["--reverse", st, back]), 0)
            loaded = torch.load(back)
            self.assertEqual(list(loaded.keys()), list(sd.keys()))
            for k, v in sd.items():
                self.assertEqual(loaded[k].dtype, v.dtype, k)
                self.assertTrue(torch.equal(loaded[k], v), k)

    def test_checkpoint_entry_is_detected(self):
        with tempfile.TemporaryDirectory() as d:
            pt, st = os.path.join(d, "checkpoint_gpu_0.pt"), os.path.join(d, "m.safetensors")
            torch.save({"epoch": 3, "state_dict_backbone": {"fc.bias": torch.zeros(2)}}, pt)
            self.assertEqual(conv.main([pt, st]), 0)
            self.assertEqual([r.name for r in conv.read_safetensors(st)[0]], ["fc.bias"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
