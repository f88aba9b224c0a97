#!/usr/bin/env bash
# Coverage-guided fuzzing of the dataset readers (OFRecord parts, MXNet RecordIO, validation
# .bin pickles) and of the JPEG decode path (decode_jpeg, decode_face_image with its resize) with
# libFuzzer + ASan + UBSan, for a bounded time per harness (four harnesses, run one after another).
#
#   scripts/fuzz_data.sh [SECONDS_PER_HARNESS]        (default 60)
#
# Needs clang++ with libFuzzer (Debian: clang-14). Without it, prints a note and exits 0: the
# deterministic mutation fuzz tests (MutationFuzz.* in ff_data_formats_tests) cover the same
# readers in every build. Environment: FF_FUZZ_BUILD_DIR (default build-fuzz), FF_FUZZ_JOBS
# (ninja -j for the build; default ninja's own).
# Findings land in $FF_FUZZ_BUILD_DIR/artifacts/ and make the script exit 1.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FF_FUZZ_BUILD_DIR:-$root/build-fuzz}"

clangxx="$(command -v clang++ || command -v clang++-14 || true)"
if [[ -z "$clangxx" ]]; then
  echo "fuzz_data.sh: clang++ not found; skipping libFuzzer (MutationFuzz.* gtests still cover the readers)"
  exit 0
fi

cmake -S "$root/tests/data_formats/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$clangxx" >/dev/null
ninja -C "$build" ${FF_FUZZ_JOBS:+-j"$FF_FUZZ_JOBS"}
if [[ ! -x "$build/fuzz_pickle" ]]; then
  echo "fuzz_data.sh: $clangxx lacks -fsanitize=fuzzer support; nothing to run"
  exit 0
fi

# Seed corpora: the byte-level test vectors of shared/reference/formats.md, and for fuzz_jpeg
# small real JPEGs from our own encoder (baseline and progressive, RGB and grayscale, 112x112 and
# odd sizes; see make_jpeg_seeds.cpp).
corpus="$build/corpus"
harnesses=(fuzz_pickle fuzz_ofrecord fuzz_recordio fuzz_jpeg)
for harness in "${harnesses[@]}"; do mkdir -p "$corpus/$harness"; done
mkdir -p "$build/artifacts"
"$build/make_jpeg_seeds" "$corpus/fuzz_jpeg"
python3 - "$corpus" <<'PY'
import struct, sys
c = sys.argv[1]
def put(harness, name, data):
    open(f"{c}/{harness}/{name}", "wb").write(data)
# formats.md 2.4: bins = ['AB', 'CD'], issame = [True] (Python 2 protocol 2).
put("fuzz_pickle", "minimal", bytes.fromhex("80025D710028550241427101550243447102655D71038861867104 2E"))
put("fuzz_pickle", "py3_protocol4", bytes.fromhex(
    "8004952900000000000000005D942843" "04FFD84142944304FFD843449443" "04FFD8E946944304FFD8474894655D9428888965" "86942E"))
# formats.md 1.1: label = int32 [5], encoded = FF D8 FF, framed by an int64 length.
label = bytes.fromhex("0A0E 0A056C6162656C 1205 2203 0A0105")
encoded = bytes.fromhex("0A120A07656E636F64656412070A050A03FFD8FF")
body = encoded + label
put("fuzz_ofrecord", "two_records", (struct.pack("<q", len(body)) + body) * 2)
# formats.md 3.3: flag 0, label 3.0, id 7, payload "abc"; plus a header-record layout with an idx.
def rec(payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * pad
def irh(flag, label, id_, labels=(), image=b""):
    return struct.pack("<IfQQ", flag, label, id_, 0) + b"".join(struct.pack("<f", l) for l in labels) + image
put("fuzz_recordio", "vector", rec(irh(0, 3.0, 7, image=b"abc")))
records = [rec(irh(2, 0.0, 0, (3.0, 5.0)))] + [rec(irh(0, float(i % 2), i, image=b"\xff\xd8img%d" % i)) for i in (1, 2)] \
        + [rec(irh(2, 0.0, 3, (1.0, 2.0))), rec(irh(2, 0.0, 4, (2.0, 3.0)))]
offsets, pos = [], 0
for r in records:
    offsets.append(pos)
    pos += len(r)
idx = "".join(f"{k}\t{o}\n" for k, o in enumerate(offsets)).encode()
put("fuzz_recordio", "insightface_with_idx", b"".join(records) + b"\nIDX:\n" + idx)
PY

status=0
for harness in "${harnesses[@]}"; do
  echo "== $harness: ${seconds}s"
  if ! "$build/$harness" "$corpus/$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$build/artifacts/$harness-" 2>"$build/$harness.log"; then
    echo "   FINDING: see $build/$harness.log and $build/artifacts/"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov: .*corp" "$build/$harness.log" | tail -3 || true
done
exit $status
