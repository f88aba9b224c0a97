#include "apps/common/trainer_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image_folder/image_folder_dataset.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/recordio/mx_face_dataset.h"
#include "data/synthetic/synthetic_dataset.h"
#include "framework/common/check.h"
#include "framework/io/json.h"

namespace ff::apps {
namespace {

namespace fs = std::filesystem;

// num_classes from a synthetic.json in `dir` (0 when there is none).
int64_t synthetic_num_classes(const fs::path& dir) {
  const fs::path meta = dir / "synthetic.json";
  if (!fs::exists(meta)) return 0;
  std::ifstream in(meta);
  std::stringstream text;
  text << in.rdbuf();
  const json::Value v = json::parse(text.str(), meta.string());
  FF_CHECK(v.is_object(), "{}: expected a JSON object", meta.string());
  for (const auto& [name, value] : v.object) {
    if (name == "num_classes") {
      FF_CHECK(value.is_integer() && value.integer > 0, "{}: num_classes must be a positive integer", meta.string());
      return value.integer;
    }
  }
  FF_THROW("{}: no num_classes member", meta.string());
}

void generate_synthetic_if_missing(const TrainConfig& c, distributed::Communicator& comm) {
  if (comm.rank() == 0 && !fs::exists(fs::path(c.data_path) / "synthetic.json")) {
    data::SyntheticOptions o;
    o.num_identities = c.synthetic_identities;
    o.images_per_identity = c.synthetic_images_per_identity;
    o.image_size = static_cast<int>(c.input_size);
    o.seed = c.seed;
    // Small datasets (tests, demos) get proportionally small verification sets: the defaults
    // (200 held-out identities, 2000 pairs per set) would dominate the generation time.
    if (c.synthetic_identities < 1000) {
      o.val_identities = std::max<int64_t>(10, c.synthetic_identities / 5);
      o.val_pairs = std::max<int64_t>(200, c.synthetic_identities * 2 / 20 * 20);
    }
    // write_synthetic_dataset writes synthetic.json last, so its presence means a finished dataset.
    data::write_synthetic_dataset(c.data_path, o);
  }
  comm.barrier();
}

}  // namespace

TrainData open_train_data(const TrainConfig& c, distributed::Communicator& comm) {
  FF_CHECK(!c.data_path.empty(), "train config: data.data_path is empty");
  TrainData d;
  std::shared_ptr<data::RecordSource> source;
  int64_t known_classes = 0;
  const data::OnBadRecord policy = c.skip_bad_records ? data::OnBadRecord::SkipAndCount : data::OnBadRecord::Throw;
  data::OFRecordDatasetOptions ofrecord_options;
  ofrecord_options.on_bad_record = policy;
  if (c.data_format == "synthetic") {
    generate_synthetic_if_missing(c, comm);
    auto ofrecord = std::make_shared<data::OFRecordDataset>((fs::path(c.data_path) / "train").string(), ofrecord_options);
    d.bad_records = &ofrecord->bad_records();
    source = ofrecord;
    known_classes = synthetic_num_classes(c.data_path);
    d.description = fmt::format("synthetic {}", c.data_path);
  } else if (c.data_format == "ofrecord") {
    FF_CHECK(fs::is_directory(c.data_path), "train config: data_path '{}' (ofrecord) is not a directory", c.data_path);
    auto ofrecord = std::make_shared<data::OFRecordDataset>(c.data_path, ofrecord_options);
    d.bad_records = &ofrecord->bad_records();
    source = ofrecord;
    known_classes = synthetic_num_classes(c.data_path);
    if (known_classes == 0) known_classes = synthetic_num_classes(fs::path(c.data_path).parent_path());
    d.description = fmt::format("ofrecord {}", c.data_path);
  } else if (c.data_format == "rec") {
    const fs::path rec = fs::path(c.data_path) / "train.rec";
    const fs::path idx = fs::path(c.data_path) / "train.idx";
    FF_CHECK(fs::exists(rec), "train config: data_path '{}' (rec) has no train.rec", c.data_path);
    data::MXFaceDatasetOptions o;
    if (fs::exists(idx)) o.idx_path = idx.string();
    o.on_bad_record = policy;
    auto mx = std::make_shared<data::MXFaceDataset>(rec.string(), o);
    d.bad_records = &mx->bad_records();
    known_classes = std::max<int64_t>(0, mx->header_num_identities());
    source = mx;
    d.description = fmt::format("rec {}", rec.string());
  } else if (c.data_format == "folder") {
    data::ImageFolderOptions o;
    o.on_bad_record = policy;
    auto folder = std::make_shared<data::ImageFolderDataset>(c.data_path, o);
    d.bad_records = &folder->bad_records();
    known_classes = folder->num_identities();
    source = folder;
    d.description = fmt::format("folder {}", c.data_path);
  } else {
    FF_THROW("train config: unknown data_format '{}' (ofrecord, rec, folder, synthetic)", c.data_format);
  }
  d.num_classes = c.num_classes > 0 ? c.num_classes : known_classes;
  FF_CHECK(d.num_classes > 0,
           "train config: num_classes is not set and the {} dataset at '{}' does not say how many classes it has; "
           "set data.num_classes",
           c.data_format, c.data_path);
  FF_CHECK(source->size() > 0, "train config: the dataset at '{}' has no records", c.data_path);
  d.num_image = c.num_image > 0 ? c.num_image : source->size();
  d.description += fmt::format(" ({} records, {} classes)", source->size(), d.num_classes);
  d.source = std::move(source);
  return d;
}

std::vector<std::string> find_validation_bins(const TrainConfig& c) {
  std::vector<std::string> out;
  for (const std::string& name : c.val_targets) {
    std::vector<fs::path> candidates;
    if (!c.val_dir.empty()) candidates.push_back(fs::path(c.val_dir) / (name + ".bin"));
    if (!c.data_path.empty()) {
      const fs::path data(c.data_path);
      candidates.push_back(data / (name + ".bin"));
      candidates.push_back(data / "val" / (name + ".bin"));
      candidates.push_back(data.parent_path() / "val" / (name + ".bin"));
    }
    std::string looked;
    bool found = false;
    for (const fs::path& p : candidates) {
      if (fs::is_regular_file(p)) {
        out.push_back(p.string());
        found = true;
        break;
      }
      looked += (looked.empty() ? "" : ", ") + p.string();
    }
    FF_CHECK(found, "train config: validation target '{}' not found (looked at: {})", name, looked);
  }
  return out;
}

}  // namespace ff::apps
