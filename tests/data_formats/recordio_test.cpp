// MXNet RecordIO (formats.md §3): the container test vector, multi-part records, .idx files,
// insightface's header-record layout, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "data/common/little_endian.h"
#include "data/recordio/idx_file.h"
#include "data/recordio/image_record.h"
#include "data/recordio/mx_face_dataset.h"
#include "data/recordio/recordio.h"
#include "tests/data_formats/data_formats_test_util.h"

namespace ff::data {
namespace {

using ff::testing::hex_bytes;
using ff::testing::read_bytes;
using ff::testing::TempDir;
using ff::testing::to_vec;
using ff::testing::write_bytes;

const std::string kMagic = hex_bytes("0A 23 D7 CE");

// formats.md §3.3: flag 0, label 3.0, id 7, payload "abc".
const char* kVectorRecord =
    "0A 23 D7 CE 1B 00 00 00 | 00 00 00 00 | 00 00 40 40 | 07 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00 | "
    "61 62 63 00";

std::string vector_payload() {
  IRHeader h;
  h.label = 3.0f;
  h.id = 7;
  return pack_image_record(h, {}, "abc", 3);
}

TEST(RecordIO, WriterMatchesTheFormatsMdVector) {
  TempDir dir;
  RecordIOWriter writer(dir.file("t.rec"), dir.file("t.idx"));
  EXPECT_EQ(writer.write(7, vector_payload()), 0u);
  EXPECT_EQ(writer.write(8, vector_payload()), 36u);
  writer.close();
  EXPECT_EQ(read_bytes(dir.file("t.rec")), hex_bytes(kVectorRecord) + hex_bytes(kVectorRecord));
  EXPECT_EQ(read_bytes(dir.file("t.idx")), "7\t0\n8\t36\n");
}

TEST(RecordIO, ReaderParsesTheFormatsMdVector) {
  TempDir dir;
  write_bytes(dir.file("t.rec"), hex_bytes(kVectorRecord));
  RecordIOReader reader(dir.file("t.rec"));
  std::vector<uint8_t> payload;
  EXPECT_EQ(reader.read(0, 0, &payload), 36u);
  const ImageRecord r = parse_image_record(payload.data(), payload.size(), RecordRef{"t", 0, 0});
  EXPECT_EQ(r.header.flag, 0u);
  EXPECT_EQ(r.header.label, 3.0f);
  EXPECT_EQ(r.header.id, 7u);
  EXPECT_EQ(r.header.id2, 0u);
  EXPECT_EQ(std::string(payload.begin() + static_cast<long>(r.image_offset), payload.end()), "abc");
  EXPECT_EQ(image_record_class(r, RecordRef{"t", 0, 0}, 4), 3);
}

TEST(RecordIO, LabelArrays) {
  IRHeader h;
  h.id = 1;
  const std::string payload = pack_image_record(h, {5.9f, 1.0f}, "jpg", 3);
  EXPECT_EQ(payload.substr(0, 8), hex_bytes("02 00 00 00 00 00 00 00"));  // flag 2, label 0.0
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  const ImageRecord r = parse_image_record(p, payload.size(), RecordRef{"t", 1, 0});
  EXPECT_EQ(r.labels, (std::vector<float>{5.9f, 1.0f}));
  EXPECT_EQ(r.image_size, 3u);
  EXPECT_EQ(image_record_class(r, RecordRef{"t", 1, 0}, -1), 5);  // label[0], truncated like int()
  EXPECT_FF_ERROR(image_record_class(r, RecordRef{"t", 1, 0}, 5), "'t' record 1 at byte offset 0",
                  "label 5 is out of range [0, 5)");
  // flag announces more labels than the payload holds.
  EXPECT_FF_ERROR(parse_image_record(p, 30, RecordRef{"t", 1, 0}), "flag 2 announces 2 float labels");
  EXPECT_FF_ERROR(parse_image_record(p, 10, RecordRef{"t", 1, 0}), "shorter than the 24-byte");
  IRHeader nan_label;
  nan_label.label = std::nanf("");
  const std::string bad = pack_image_record(nan_label, {}, "x", 1);
  EXPECT_FF_ERROR(image_record_class(parse_image_record(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(),
                                                        RecordRef{"t", 2, 0}),
                                     RecordRef{"t", 2, 0}, -1),
                  "is not a valid class id");
}

TEST(RecordIO, MultiPartRecordsAroundAlignedMagic) {
  TempDir dir;
  // Magic at aligned offsets 0 and 8 (split), and at offset 14 (unaligned: kept as data).
  const std::string payload = kMagic + "abcd" + kMagic + "xy" + kMagic + "!";
  ASSERT_EQ(payload.size(), 19u);
  {
    RecordIOWriter writer(dir.file("m.rec"));
    writer.write(0, payload);
    writer.write(1, "tail");
    writer.close();
  }
  const std::string expected = kMagic + hex_bytes("00 00 00 20") +                        // cflag 1, empty piece
                               kMagic + hex_bytes("04 00 00 40") + "abcd" +               // cflag 2
                               kMagic + hex_bytes("07 00 00 60") + "xy" + kMagic + "!" +  // cflag 3
                               hex_bytes("00") +                                          // padding of the total
                               kMagic + hex_bytes("04 00 00 00") + "tail";
  EXPECT_EQ(read_bytes(dir.file("m.rec")), expected);
  RecordIOReader reader(dir.file("m.rec"));
  std::vector<uint8_t> back;
  const uint64_t next = reader.read(0, 0, &back);
  EXPECT_EQ(std::string(back.begin(), back.end()), payload);
  EXPECT_EQ(reader.read(next, 1, &back), expected.size());
  EXPECT_EQ(std::string(back.begin(), back.end()), "tail");
}

TEST(RecordIO, ContainerErrorsNameFileRecordAndOffset) {
  TempDir dir;
  const std::string path = dir.file("bad.rec");
  write_bytes(path, hex_bytes(kVectorRecord).substr(0, 30));
  EXPECT_FF_ERROR(RecordIOReader(path).read(0, 4, nullptr), path, "record 4 at byte offset 0",
                  "declares 27 bytes but only 22 remain");
  write_bytes(path, hex_bytes(kVectorRecord) + "junkjunk");
  EXPECT_FF_ERROR(RecordIOReader(path).read(36, 5, nullptr), "record 5 at byte offset 36", "bad magic 0x6B6E756A");
  write_bytes(path, hex_bytes(kVectorRecord) + kMagic);
  EXPECT_FF_ERROR(RecordIOReader(path).read(36, 5, nullptr), "piece 0 header at byte offset 36 needs 8 bytes");
  write_bytes(path, kMagic + hex_bytes("00 00 00 40"));  // starts with a middle piece
  EXPECT_FF_ERROR(RecordIOReader(path).read(0, 0, nullptr), "continuation flag 2 (middle piece)");
  write_bytes(path, kMagic + hex_bytes("00 00 00 20") + kMagic + hex_bytes("00 00 00 00"));  // first, then whole
  EXPECT_FF_ERROR(RecordIOReader(path).read(0, 0, nullptr), "piece 1 at byte offset 8 has continuation flag 0");
  write_bytes(path, kMagic + hex_bytes("00 00 00 20"));  // first piece, file ends
  EXPECT_FF_ERROR(RecordIOReader(path).read(0, 0, nullptr), "piece 1 header at byte offset 8");
}

TEST(RecordIO, FindRecordStartResyncs) {
  TempDir dir;
  write_bytes(dir.file("r.rec"), "garbage!" + kMagic + hex_bytes("00 00 00 40") + hex_bytes(kVectorRecord));
  RecordIOReader reader(dir.file("r.rec"));
  EXPECT_EQ(reader.find_record_start(0), 16u);  // skips the magic whose lrec has cflag 2
  EXPECT_EQ(reader.find_record_start(17), reader.file_size());
}

TEST(RecordIOIdx, ParsesAndRejectsBadLines) {
  TempDir dir;
  write_bytes(dir.file("a.idx"), "0\t0\n2\t36\r\n\n1\t72");
  const auto entries = read_idx_file(dir.file("a.idx"));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].key, 2);
  EXPECT_EQ(entries[1].offset, 36u);
  EXPECT_EQ(entries[2].offset, 72u);
  write_bytes(dir.file("a.idx"), "0\t0\n1 36\n");
  EXPECT_FF_ERROR(read_idx_file(dir.file("a.idx")), dir.file("a.idx"), "line 2 (byte offset 4)", "'1 36'");
  write_bytes(dir.file("a.idx"), "0\t0\n1\t-36\n");
  EXPECT_FF_ERROR(read_idx_file(dir.file("a.idx")), "line 2");
  write_bytes(dir.file("a.idx"), "3\t0\n1\t36\n3\t72\n");
  EXPECT_FF_ERROR(read_idx_file(dir.file("a.idx")), "key 3 appears more than once");
  write_bytes(dir.file("a.idx"), "0\t0\n1\t100\n");
  EXPECT_FF_ERROR(read_idx_file(dir.file("a.idx"), 104), "line 2 (byte offset 4)", "key 1 points at byte offset 100",
                  "beyond the 104-byte .rec");
}

// ---- insightface datasets -------------------------------------------------------------------

struct RecFiles {
  TempDir dir;
  std::string rec = dir.file("train.rec");
  std::string idx = dir.file("train.idx");
};

TEST(MXFaceDataset, HeaderLayoutRoundTrip) {
  for (bool label_as_array : {false, true}) {
    RecFiles f;
    // Labels deliberately unsorted, class 3 empty: the writer groups by label.
    std::vector<FaceExample> examples = ff::testing::fake_examples(10, 3);
    examples[4].label = 4;
    write_insightface_rec(f.rec, f.idx, examples, label_as_array);
    for (const std::string& idx : {f.idx, std::string()}) {
      MXFaceDatasetOptions opts;
      opts.idx_path = idx;
      opts.num_classes = 5;
      MXFaceDataset ds(f.rec, opts);
      EXPECT_TRUE(ds.has_header_record());
      EXPECT_EQ(ds.header_labels(), (std::vector<float>{11, 16}));
      EXPECT_EQ(ds.header_num_identities(), 5);
      ASSERT_EQ(ds.size(), 10);
      int32_t previous = -1;
      std::multiset<std::vector<uint8_t>> seen;
      for (int64_t i = 0; i < ds.size(); ++i) {
        EXPECT_EQ(ds.key(i), i + 1);
        const FaceExample e = ds.get(i);
        EXPECT_GE(e.label, previous);  // grouped by identity
        previous = e.label;
        seen.insert(e.encoded_jpeg);
      }
      for (const auto& e : examples) EXPECT_EQ(seen.count(e.encoded_jpeg), 1u);
    }
  }
}

TEST(MXFaceDataset, IdentityRecordsHoldImageRanges) {
  RecFiles f;
  std::vector<FaceExample> examples = ff::testing::fake_examples(5, 2);  // labels 0 1 0 1 0
  write_insightface_rec(f.rec, f.idx, examples);
  RecordIOReader reader(f.rec);
  const auto entries = read_idx_file(f.idx);
  ASSERT_EQ(entries.size(), 1u + 5u + 2u);
  std::vector<uint8_t> payload;
  reader.read(entries[6].offset, 6, &payload);  // class 0: images 1..3
  ImageRecord r = parse_image_record(payload.data(), payload.size(), RecordRef{f.rec, 6, entries[6].offset});
  EXPECT_EQ(r.labels, (std::vector<float>{1, 4}));
  EXPECT_EQ(r.image_size, 0u);
  reader.read(entries[7].offset, 7, &payload);  // class 1: images 4..5
  r = parse_image_record(payload.data(), payload.size(), RecordRef{f.rec, 7, entries[7].offset});
  EXPECT_EQ(r.labels, (std::vector<float>{4, 6}));
}

TEST(MXFaceDataset, NoHeaderRecordUsesEveryKey) {
  RecFiles f;
  // shuffle_rec.py style: keys from 0, scalar labels, no header, idx in file order.
  const auto examples = ff::testing::fake_examples(6, 4);
  {
    RecordIOWriter writer(f.rec, f.idx);
    const int64_t keys[] = {0, 5, 1, 4, 2, 3};
    for (size_t i = 0; i < examples.size(); ++i) {
      IRHeader h;
      h.label = static_cast<float>(examples[i].label);
      h.id = static_cast<uint64_t>(keys[i]);
      writer.write(keys[i], pack_image_record(h, {}, examples[i].encoded_jpeg.data(), examples[i].encoded_jpeg.size()));
    }
    writer.close();
  }
  MXFaceDatasetOptions opts;
  opts.idx_path = f.idx;
  MXFaceDataset ds(f.rec, opts);
  EXPECT_FALSE(ds.has_header_record());
  ASSERT_EQ(ds.size(), 6);
  EXPECT_EQ(ds.key(1), 5);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(ds.get(i).encoded_jpeg, examples[static_cast<size_t>(i)].encoded_jpeg);
    EXPECT_EQ(ds.get(i).label, examples[static_cast<size_t>(i)].label);
  }
  MXFaceDataset scanned(f.rec);  // ids do not increase: positions are the keys
  EXPECT_EQ(scanned.size(), 6);
  EXPECT_EQ(scanned.key(1), 1);
}

// A 4-image, 2-class insightface .rec: keys 1, 2 hold label 0; keys 3, 4 label 1.
struct SmallRec : RecFiles {
  SmallRec() { write_insightface_rec(rec, idx, ff::testing::fake_examples(4, 2)); }
  std::vector<IdxEntry> entries() const { return read_idx_file(idx); }
  std::string at(int64_t key) const {
    return fmt::format("'{}' record {} at byte offset {}", rec, key, entries()[static_cast<size_t>(key)].offset);
  }
  // Rewrites the .idx from entries (e.g. with one removed or moved).
  void write_idx(const std::vector<IdxEntry>& es) const {
    std::string text;
    for (const auto& e : es) text += fmt::format("{}\t{}\n", e.key, e.offset);
    write_bytes(idx, text);
  }
  // Overwrites 4 bytes at `offset` of the .rec.
  void poke(uint64_t offset, const std::string& four) const {
    std::string bytes = read_bytes(rec);
    bytes.replace(offset, 4, four);
    write_bytes(rec, bytes);
  }
};

TEST(MXFaceDataset, LabelOutOfRange) {
  SmallRec f;
  MXFaceDatasetOptions opts;
  opts.idx_path = f.idx;
  opts.num_classes = 1;
  MXFaceDataset ds(f.rec, opts);
  EXPECT_EQ(ds.get(1).label, 0);
  EXPECT_FF_ERROR(ds.get(2), f.at(3), "label 1 is out of range [0, 1)");
}

TEST(MXFaceDataset, BadMagicNamesKeyAndOffset) {
  SmallRec f;
  f.poke(f.entries()[2].offset, "JUNK");
  MXFaceDatasetOptions opts;
  opts.idx_path = f.idx;
  MXFaceDataset ds(f.rec, opts);
  EXPECT_FF_ERROR(ds.get(1), f.at(2), "bad magic 0x4B4E554A");
  // An .idx offset that points inside a record.
  auto es = f.entries();
  es[3].offset += 8;
  f.write_idx(es);
  MXFaceDataset moved(f.rec, opts);
  EXPECT_FF_ERROR(moved.get(2), fmt::format("record 3 at byte offset {}", es[3].offset), "bad magic");
}

TEST(MXFaceDataset, IdxOffsetsOutOfRangeAndMissingKeys) {
  SmallRec f;
  auto es = f.entries();
  MXFaceDatasetOptions opts;
  opts.idx_path = f.idx;
  es[4].offset = 1u << 30;
  f.write_idx(es);
  EXPECT_FF_ERROR(MXFaceDataset(f.rec, opts), f.idx, "line 5", "key 4 points at byte offset 1073741824");
  SmallRec g;  // drop key 2 from a fresh index
  auto ges = g.entries();
  ges.erase(ges.begin() + 2);
  g.write_idx(ges);
  opts.idx_path = g.idx;
  EXPECT_FF_ERROR(MXFaceDataset(g.rec, opts), "header record 0 says images are keys 1..4", "1 of them are missing",
                  "first missing key: 2");
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  MXFaceDataset skipping(g.rec, opts);
  EXPECT_EQ(skipping.size(), 3);
  EXPECT_EQ(skipping.bad_records().count(), 1);
}

TEST(MXFaceDataset, TruncatedRec) {
  SmallRec f;
  const uint64_t cut = f.entries()[3].offset + 20;
  write_bytes(f.rec, read_bytes(f.rec).substr(0, cut));
  MXFaceDatasetOptions opts;
  opts.idx_path = f.idx;
  EXPECT_FF_ERROR(MXFaceDataset(f.rec, opts), f.idx, "beyond the");  // later offsets no longer fit
  EXPECT_FF_ERROR(MXFaceDataset(f.rec), "record 3 at byte offset", "truncated");
  opts.idx_path.clear();
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  MXFaceDataset ds(f.rec, opts);  // keys 3, 4 lost: the scan notes the cut, the header notes 2 missing keys
  EXPECT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.bad_records().count(), 2);
}

TEST(MXFaceDataset, SkipAndCount) {
  SmallRec f;
  f.poke(f.entries()[2].offset, "JUNK");
  MXFaceDatasetOptions opts;
  opts.idx_path = f.idx;
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  {
    MXFaceDataset ds(f.rec, opts);
    ASSERT_EQ(ds.size(), 4);
    FaceExample e;
    EXPECT_FALSE(ds.try_get(1, e));
    const FaceExample next = ds.get(1);  // key 3 stands in for key 2
    EXPECT_EQ(next.label, 1);
    EXPECT_EQ(ds.bad_records().count(), 2);
    EXPECT_NE(ds.bad_records().summary().find(f.at(2)), std::string::npos);
  }
  {
    // No .idx: the scan resynchronises on the next magic and keeps the true keys (IRHeader ids).
    opts.idx_path.clear();
    MXFaceDataset ds(f.rec, opts);
    ASSERT_EQ(ds.size(), 3);
    EXPECT_EQ(ds.key(1), 3);
    EXPECT_EQ(ds.get(1).label, 1);
    EXPECT_EQ(ds.bad_records().count(), 2);  // the damaged record + key 2 missing from the header range
  }
}

}  // namespace
}  // namespace ff::data
