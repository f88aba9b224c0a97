// OneFlow OFRecord parts (formats.md §1): the record test vector, framing, part naming, the
// dataset view over a directory, and bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "data/common/little_endian.h"
#include "data/ofrecord/ofrecord_codec.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/ofrecord/ofrecord_part_reader.h"
#include "data/ofrecord/ofrecord_writer.h"
#include "tests/data_formats/data_formats_test_util.h"

namespace ff::data {
namespace {

using ff::testing::hex_bytes;
using ff::testing::read_bytes;
using ff::testing::TempDir;
using ff::testing::to_vec;
using ff::testing::write_bytes;

// formats.md §1.1: label = int32 [5], encoded = bytes FF D8 FF.
const char* kLabelEntry = "0A 0E | 0A 05 'label' | 12 05 | 22 03 | 0A 01 05";
const char* kEncodedEntry = "0A 12 | 0A 07 'encoded' | 12 07 | 0A 05 | 0A 03 FF D8 FF";

FaceExample vector_example() {
  FaceExample e;
  e.encoded_jpeg = {0xFF, 0xD8, 0xFF};
  e.label = 5;
  return e;
}

std::string framed(const std::string& body) {
  std::string out;
  append_le_u64(out, body.size());
  return out + body;
}

TEST(OFRecord, SerializeMatchesTheFormatsMdVector) {
  const std::string body = serialize_face_example(vector_example());
  EXPECT_EQ(hex_bytes(kLabelEntry).size(), 16u);
  EXPECT_EQ(hex_bytes(kEncodedEntry).size(), 20u);
  EXPECT_EQ(body, hex_bytes(kEncodedEntry) + hex_bytes(kLabelEntry));  // sorted keys
}

TEST(OFRecord, ParsesTheVectorInEitherEntryOrder) {
  for (const std::string& body : {hex_bytes(kLabelEntry) + hex_bytes(kEncodedEntry),
                                  hex_bytes(kEncodedEntry) + hex_bytes(kLabelEntry)}) {
    ASSERT_EQ(body.size(), 36u);
    const FaceExample e =
        parse_face_example(reinterpret_cast<const uint8_t*>(body.data()), body.size(), RecordRef{"v", 0, 0});
    EXPECT_EQ(e.label, 5);
    EXPECT_EQ(e.encoded_jpeg, vector_example().encoded_jpeg);
  }
}

TEST(OFRecord, WriterFramesWithInt64LittleEndianLength) {
  TempDir dir;
  {
    OFRecordWriter writer(dir.file("part-00000"));
    writer.write(vector_example());
    EXPECT_EQ(writer.records_written(), 1);
  }  // the destructor closes
  EXPECT_EQ(read_bytes(dir.file("part-00000")),
            hex_bytes("24 00 00 00 00 00 00 00") + hex_bytes(kEncodedEntry) + hex_bytes(kLabelEntry));
}

TEST(OFRecord, PartNaming) {
  EXPECT_EQ(ofrecord_part_name(0), "part-00000");
  EXPECT_EQ(ofrecord_part_name(123), "part-00123");
  EXPECT_EQ(ofrecord_part_name(123456), "part-123456");
  EXPECT_EQ(ofrecord_part_name(7, -1), "part-7");  // OneFlow's default suffix length
  EXPECT_EQ(ofrecord_part_name(7, 1), "part-7");
}

TEST(OFRecord, WriteParts_RoundTripThroughTheDataset) {
  TempDir dir;
  const auto examples = ff::testing::fake_examples(23, 5);
  const auto paths = write_ofrecord_parts(dir.path(), examples, 4);
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[3], dir.file("part-00003"));

  OFRecordDataset ds(dir.path());
  EXPECT_EQ(ds.num_parts(), 4);
  ASSERT_EQ(ds.size(), 23);
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(static_cast<double>(ds.part_size(p)), 23.0 / 4, 1.0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    const FaceExample e = ds.get(i);
    EXPECT_EQ(e.label, examples[static_cast<size_t>(i)].label) << i;
    EXPECT_EQ(e.encoded_jpeg, examples[static_cast<size_t>(i)].encoded_jpeg) << i;
  }
}

FaceExample parse(const std::string& body, int64_t num_classes = -1) {
  return parse_face_example(reinterpret_cast<const uint8_t*>(body.data()), body.size(), RecordRef{"p", 3, 77},
                            num_classes);
}

TEST(OFRecord, AcceptsUnpackedAndInt64Labels) {
  EXPECT_EQ(parse(hex_bytes(kEncodedEntry) + hex_bytes("0A 0D 0A 05 'label' 12 04 22 02 08 05")).label, 5);
  EXPECT_EQ(parse(hex_bytes(kEncodedEntry) + hex_bytes("0A 0E 0A 05 'label' 12 05 2A 03 0A 01 07")).label, 7);
}

TEST(OFRecord, BadRecordBodiesNameFileRecordAndOffset) {
  const std::string encoded = hex_bytes(kEncodedEntry);
  const std::string label = hex_bytes(kLabelEntry);
  const std::string where = "'p' record 3 at byte offset 77";
  EXPECT_FF_ERROR(parse(encoded), where, "missing key 'label'", "'encoded' (bytes_list)");
  EXPECT_FF_ERROR(parse(label), where, "missing key 'encoded'");
  EXPECT_FF_ERROR(parse(encoded + hex_bytes("0A 11 0A 05 'label' 12 08 12 06 0A 04 00 00 A0 40")), where,
                  "key 'label' has type float_list, expected int32_list");
  // "encoded" as an int32 list.
  EXPECT_FF_ERROR(parse(hex_bytes("0A 10 0A 07 'encoded' 12 05 22 03 0A 01 05") + label), where,
                  "key 'encoded' has type int32_list, expected bytes_list");
  EXPECT_FF_ERROR(parse(encoded + hex_bytes("0A 17 0A 05 'label' 12 0E 22 0C 0A 0A FF FF FF FF FF FF FF FF FF 01")),
                  where, "label -1 is negative");
  EXPECT_FF_ERROR(parse(encoded + label, 5), where, "label 5 is out of range [0, 5)");
  EXPECT_EQ(parse(encoded + label, 6).label, 5);
  EXPECT_FF_ERROR(parse(hex_bytes("FF FF FF FF")), where, "not a valid OFRecord");
}

// Writes a part holding the given record bodies, framed.
void write_part(const std::string& path, const std::vector<std::string>& bodies, const std::string& tail = "") {
  std::string bytes;
  for (const auto& b : bodies) bytes += framed(b);
  write_bytes(path, bytes + tail);
}

std::string body_for(int label) {
  FaceExample e = vector_example();
  e.label = label;
  return serialize_face_example(e);
}

TEST(OFRecordPart, SequentialReadAndIndex) {
  TempDir dir;
  write_part(dir.file("part-0"), {body_for(1), body_for(2), body_for(3)});
  OFRecordPartReader reader(dir.file("part-0"));
  std::vector<uint8_t> body;
  int n = 0;
  while (reader.next(body)) {
    EXPECT_EQ(parse(std::string(body.begin(), body.end())).label, ++n);
  }
  EXPECT_EQ(n, 3);
  EXPECT_EQ(reader.build_index(), (std::vector<uint64_t>{0, 44, 88, 132}));
}

TEST(OFRecordPart, FramingErrorsNameFileRecordAndOffset) {
  TempDir dir;
  const std::string path = dir.file("part-00000");
  // Record 1 at offset 44 is cut short.
  write_part(path, {body_for(1)}, framed(body_for(2)).substr(0, 20));
  EXPECT_FF_ERROR(OFRecordPartReader(path).build_index(), path, "record 1 at byte offset 44",
                  "length prefix says 36 bytes but only 12 remain");
  // A prefix cut short.
  write_part(path, {body_for(1)}, hex_bytes("24 00 00"));
  EXPECT_FF_ERROR(OFRecordPartReader(path).build_index(), "record 1 at byte offset 44", "truncated length prefix");
  // Zero and negative lengths are fatal in OneFlow too.
  write_part(path, {body_for(1)}, hex_bytes("00 00 00 00 00 00 00 00"));
  EXPECT_FF_ERROR(OFRecordPartReader(path).build_index(), "record 1 at byte offset 44", "length prefix 0 is not positive");
  write_part(path, {}, hex_bytes("FE FF FF FF FF FF FF FF 00"));
  EXPECT_FF_ERROR(OFRecordPartReader(path).build_index(), "record 0 at byte offset 0", "length prefix -2");
  // A huge length is reported, not allocated.
  write_part(path, {}, hex_bytes("00 00 00 00 00 00 00 40 00"));
  EXPECT_FF_ERROR(OFRecordPartReader(path).build_index(), "record 0 at byte offset 0", "only 1 remain");
}

TEST(OFRecordDataset, EmptyPartsAreTolerated) {
  TempDir dir;
  // 3 examples over 5 parts: two parts are 0-byte files, as OneFlow's converter can produce.
  const auto examples = ff::testing::fake_examples(3, 3);
  write_ofrecord_parts(dir.path(), examples, 5);
  EXPECT_EQ(std::filesystem::file_size(dir.file("part-00000")), 0u);
  OFRecordDatasetOptions opts;
  opts.num_parts = 5;
  OFRecordDataset ds(dir.path(), opts);
  ASSERT_EQ(ds.size(), 3);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(ds.get(i).encoded_jpeg, examples[static_cast<size_t>(i)].encoded_jpeg);
  EXPECT_FF_ERROR(ds.get(3), "out of range");
}

TEST(OFRecordDataset, MissingPartsAreErrors) {
  TempDir dir;
  write_ofrecord_parts(dir.path(), ff::testing::fake_examples(8, 2), 4);
  std::filesystem::remove(dir.file("part-00002"));
  OFRecordDatasetOptions opts;
  opts.num_parts = 4;
  EXPECT_FF_ERROR(OFRecordDataset(dir.path(), opts), dir.path(), "1 of 4 part files are missing: part-00002");
  opts.num_parts = 0;  // discovery: a gap is still an error
  EXPECT_FF_ERROR(OFRecordDataset(dir.path(), opts), "found parts up to part-00003", "missing: part-00002");
  opts.num_parts = 2;  // OneFlow reads exactly data_part_num parts; later ones are ignored
  EXPECT_EQ(OFRecordDataset(dir.path(), opts).size(), 4);
  EXPECT_FF_ERROR(OFRecordDataset(dir.file("nope")), "is not a directory");
  TempDir empty;
  EXPECT_FF_ERROR(OFRecordDataset(empty.path()), "no part files named part-00000");
}

TEST(OFRecordDataset, IgnoresOtherFilesAndSupportsUnpaddedNames) {
  TempDir dir;
  write_part(dir.file("part-0"), {body_for(0), body_for(1)});
  write_part(dir.file("part-1"), {body_for(2)});
  write_bytes(dir.file("_SUCCESS"), "");
  write_bytes(dir.file("part-1.tmp.123"), "junk");
  write_bytes(dir.file("part-00001"), "junk");  // padded name: not a suffix-length -1 part
  OFRecordDatasetOptions opts;
  opts.part_name_suffix_length = -1;
  OFRecordDataset ds(dir.path(), opts);
  EXPECT_EQ(ds.num_parts(), 2);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.get(2).label, 2);
  EXPECT_EQ(ds.describe(2), "'" + dir.file("part-1") + "' record 0 at byte offset 0");
}

TEST(OFRecordDataset, ThrowModeNamesThePartRecordAndOffset) {
  TempDir dir;
  write_part(dir.file("part-00000"), {body_for(0), body_for(1)});
  write_part(dir.file("part-00001"), {body_for(2), hex_bytes(kEncodedEntry), body_for(9)});
  OFRecordDatasetOptions opts;
  opts.num_classes = 5;
  OFRecordDataset ds(dir.path(), opts);
  ASSERT_EQ(ds.size(), 5);
  EXPECT_FF_ERROR(ds.get(3), dir.file("part-00001") + "' record 1 at byte offset 44", "missing key 'label'");
  EXPECT_FF_ERROR(ds.get(4), "record 2 at byte offset 72", "label 9 is out of range [0, 5)");
}

TEST(OFRecordDataset, SkipAndCount) {
  TempDir dir;
  write_part(dir.file("part-00000"), {body_for(0), hex_bytes(kEncodedEntry), body_for(2)});
  // Part 1: one good record, then a frame cut short: the tail is lost and counted once.
  write_part(dir.file("part-00001"), {body_for(3)}, framed(body_for(4)).substr(0, 30));
  OFRecordDatasetOptions opts;
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  OFRecordDataset ds(dir.path(), opts);
  EXPECT_EQ(ds.bad_records().count(), 1);  // the truncated tail, found while indexing
  ASSERT_EQ(ds.size(), 4);
  FaceExample e;
  EXPECT_FALSE(ds.try_get(1, e));
  EXPECT_EQ(ds.bad_records().count(), 2);
  EXPECT_EQ(ds.get(1).label, 2);  // replaced by the next good record
  EXPECT_EQ(ds.bad_records().count(), 3);
  EXPECT_EQ(ds.get(3).label, 3);
  const std::string summary = ds.bad_records().summary();
  EXPECT_NE(summary.find("3 bad records skipped"), std::string::npos) << summary;
  EXPECT_NE(summary.find("part-00001' record 1 at byte offset 44"), std::string::npos) << summary;
  EXPECT_NE(summary.find("part-00000' record 1 at byte offset 44"), std::string::npos) << summary;
  EXPECT_FF_ERROR(ds.get(-1), "out of range");  // caller bugs are never skipped
}

// Many parts, some empty, two with damaged tails: records are numbered in part order, Throw mode
// names the first damaged part, and SkipAndCount reports both in part order.
TEST(OFRecordDataset, ManyPartsIndexInPartOrderAndReportTheFirstBadPart) {
  TempDir dir;
  const int kParts = 19;
  for (int p = 0; p < kParts; ++p) {
    std::vector<std::string> bodies;
    for (int r = 0; r < p % 4; ++r) bodies.push_back(body_for(p));  // 0-3 records, some parts empty
    // Parts 5 and 17 end in a cut-off frame.
    const std::string tail = (p == 5 || p == 17) ? framed(body_for(p)).substr(0, 20) : "";
    write_part(dir.file(ofrecord_part_name(p)), bodies, tail);
  }
  EXPECT_FF_ERROR(OFRecordDataset(dir.path()), "part-00005' record 1 at byte offset", "truncated");

  OFRecordDatasetOptions opts;
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  OFRecordDataset ds(dir.path(), opts);
  ASSERT_EQ(ds.num_parts(), kParts);
  int64_t expected_size = 0;
  for (int p = 0; p < kParts; ++p) expected_size += p % 4;
  ASSERT_EQ(ds.size(), expected_size);
  int64_t i = 0;
  for (int p = 0; p < kParts; ++p) {
    EXPECT_EQ(ds.part_size(p), p % 4) << "part " << p;
    for (int r = 0; r < p % 4; ++r, ++i) EXPECT_EQ(ds.get(i).label, p) << "record " << i;
  }
  const auto messages = ds.bad_records().first_messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].find("part-00005'"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("part-00017'"), std::string::npos) << messages[1];
}

TEST(OFRecordDataset, SkipAndCountGivesUpOnBrokenData) {
  TempDir dir;
  write_part(dir.file("part-00000"), {hex_bytes(kEncodedEntry), hex_bytes(kEncodedEntry)});
  OFRecordDatasetOptions opts;
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  OFRecordDataset ds(dir.path(), opts);
  EXPECT_FF_ERROR(ds.get(0), "2 consecutive bad records", "missing key 'label'");
}

TEST(OFRecordDataset, ConcurrentReadsAgree) {
  TempDir dir;
  const auto examples = ff::testing::fake_examples(64, 9);
  write_ofrecord_parts(dir.path(), examples, 3);
  OFRecordDataset ds(dir.path());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; i < ds.size(); ++i) {
        const int64_t j = (i * 7 + t * 13) % ds.size();  // different orders per thread
        const FaceExample e = ds.get(j);
        if (e.encoded_jpeg != examples[static_cast<size_t>(j)].encoded_jpeg) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(OFRecordWriter, FailedWriteLeavesNoPart) {
  TempDir dir;
  EXPECT_FF_ERROR(
      {
        OFRecordWriter writer(dir.file("part-00000"));
        writer.write(vector_example());
        writer.write(FaceExample{});  // empty image: rejected
      },
      dir.file("part-00000"), "record 1 has an empty image");
  EXPECT_TRUE(dir.entries().empty());  // unwinding discarded the temporary file
  EXPECT_FF_ERROR(write_ofrecord_parts(dir.path(), {}, 0), "num_parts must be positive");
}

}  // namespace
}  // namespace ff::data
