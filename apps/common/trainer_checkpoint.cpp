#include "apps/common/trainer_checkpoint.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/common/check.h"
#include "framework/io/atomic_file.h"
#include "ops/tensor_ops/fill.h"

namespace ff::apps {
namespace {

namespace fs = std::filesystem;

// Makes a rename inside `dir` durable (the directory entry itself).
void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the rename already happened
  ::fsync(fd);
  ::close(fd);
}

// Every rank's failure flag, combined: true when any rank failed.
bool any_rank_failed(bool failed, distributed::Communicator& comm) {
  Tensor flag = full({1}, failed ? 1.0 : 0.0, DType::Int64);
  comm.all_reduce(flag, distributed::ReduceOp::Max);
  return flag.item<int64_t>() != 0;
}

StateDict with_prefix(const StateDict& d, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, v] : d) out[prefix + k] = v;
  return out;
}

std::string fc_file_name(int64_t begin, int64_t end) { return fmt::format("fc_rows_{}_{}.safetensors", begin, end); }

int64_t metadata_int(const SafetensorsMetadata& m, const std::string& key, const std::string& file) {
  auto it = m.find(key);
  FF_CHECK(it != m.end(), "{}: metadata '{}' is missing", file, key);
  try {
    size_t used = 0;
    const int64_t v = std::stoll(it->second, &used);
    FF_CHECK(used == it->second.size(), "");
    return v;
  } catch (...) {
    FF_THROW("{}: metadata '{}' = '{}' is not an integer", file, key, it->second);
  }
}

}  // namespace

std::string checkpoint_dir_name(int64_t step) { return fmt::format("checkpoint_step{}", step); }

std::string commit_checkpoint(const std::string& output_dir, int64_t step, distributed::Communicator& comm,
                              const std::function<void(const std::string& tmp_dir)>& write_rank_files) {
  const fs::path out(output_dir);
  const std::string name = checkpoint_dir_name(step);
  const fs::path tmp = out / ("." + name + ".tmp");
  const fs::path final_dir = out / name;

  std::string error;
  if (comm.rank() == 0) {
    try {
      fs::remove_all(tmp);  // a stale one from a crashed save
      fs::create_directories(tmp);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (any_rank_failed(!error.empty(), comm)) {
    FF_THROW("checkpoint step {}: cannot create {}: {}", step, tmp.string(), error.empty() ? "see rank 0" : error);
  }

  try {
    write_rank_files(tmp.string());
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (any_rank_failed(!error.empty(), comm)) {
    if (comm.rank() == 0) {
      std::error_code ignored;
      fs::remove_all(tmp, ignored);
    }
    comm.barrier();
    FF_THROW("checkpoint step {} was not saved ({} kept as it was): {}", step, (out / "latest").string(),
             error.empty() ? "writing failed on another rank" : error);
  }

  if (comm.rank() == 0) {
    try {
      fsync_dir(tmp);
      if (fs::exists(final_dir)) {
        // The same step saved twice (an epoch end that is also a save_every_steps step, or a
        // resumed run re-saving): move the old one aside first, rename() cannot replace a
        // non-empty directory.
        const fs::path old = out / ("." + name + ".old");
        fs::remove_all(old);
        fs::rename(final_dir, old);
        fs::rename(tmp, final_dir);
        fs::remove_all(old);
      } else {
        fs::rename(tmp, final_dir);
      }
      fsync_dir(out);
      AtomicFileWriter latest((out / "latest").string());
      const std::string text = name + "\n";
      latest.write(text.data(), text.size());
      latest.commit();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (any_rank_failed(!error.empty(), comm)) {
    FF_THROW("checkpoint step {}: committing {} failed: {}", step, final_dir.string(),
             error.empty() ? "see rank 0" : error);
  }
  return final_dir.string();
}

std::vector<std::string> prune_checkpoints(const std::string& output_dir, int64_t newest_step, int64_t keep,
                                           std::vector<std::string>* failures) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  std::string latest_name;
  if (std::ifstream in(fs::path(output_dir) / "latest"); in) std::getline(in, latest_name);
  const std::string prefix = "checkpoint_step";
  std::vector<std::pair<int64_t, fs::path>> older;  // steps below newest_step
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(output_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind(prefix, 0) != 0 || name == latest_name) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) continue;
    const int64_t step = std::stoll(digits);
    if (step < newest_step) older.emplace_back(step, e.path());
  }
  if (ec && failures) failures->push_back(fmt::format("cannot list {}: {}", output_dir, ec.message()));
  std::sort(older.begin(), older.end());
  // The newest_step directory is one of the `keep`; the newest keep - 1 older ones stay too.
  const size_t deletable = older.size() > static_cast<size_t>(keep - 1) ? older.size() - static_cast<size_t>(keep - 1) : 0;
  for (size_t i = 0; i < deletable; ++i) {
    std::error_code rm;
    fs::remove_all(older[i].second, rm);
    if (rm) {
      if (failures) failures->push_back(fmt::format("cannot delete {}: {}", older[i].second.string(), rm.message()));
      continue;
    }
    removed.push_back(older[i].second.string());
  }
  return removed;
}

std::string latest_checkpoint(const std::string& output_dir) {
  const fs::path latest = fs::path(output_dir) / "latest";
  if (!fs::exists(latest)) return "";
  std::ifstream in(latest);
  std::string name;
  std::getline(in, name);
  FF_CHECK(!name.empty() && name.find('/') == std::string::npos, "{}: expected a checkpoint directory name, got '{}'",
           latest.string(), name);
  const fs::path dir = fs::path(output_dir) / name;
  FF_CHECK(fs::is_directory(dir), "{} names {}, which does not exist", latest.string(), dir.string());
  return dir.string();
}

void write_trainer_state(const std::string& dir, const TrainerCheckpointState& s) {
  StateDict all = with_prefix(s.backbone, "backbone.");
  for (const auto* part : {&s.optimizer, &s.scheduler, &s.grad_scaler}) {
    const char* prefix = part == &s.optimizer ? "optimizer." : part == &s.scheduler ? "scheduler." : "grad_scaler.";
    for (const auto& [k, v] : *part) all[prefix + k] = v;
  }
  SafetensorsMetadata meta = s.metadata;
  meta["format"] = kTrainCheckpointFormat;
  save_safetensors(dir + "/trainer.safetensors", all, meta);
}

TrainerCheckpointState read_trainer_state(const std::string& dir) {
  const std::string path = dir + "/trainer.safetensors";
  FF_CHECK(fs::exists(path), "checkpoint {}: trainer.safetensors is missing", dir);
  SafetensorsContents c = load_safetensors(path);
  auto format = c.metadata.find("format");
  FF_CHECK(format != c.metadata.end() && format->second == kTrainCheckpointFormat,
           "{}: not a FaceFlow training checkpoint (metadata format '{}')", path,
           format == c.metadata.end() ? "" : format->second);
  TrainerCheckpointState s;
  for (auto& [k, v] : c.tensors) {
    const size_t dot = k.find('.');
    const std::string section = dot == std::string::npos ? "" : k.substr(0, dot);
    const std::string key = dot == std::string::npos ? k : k.substr(dot + 1);
    if (section == "backbone") s.backbone[key] = v;
    else if (section == "optimizer") s.optimizer[key] = v;
    else if (section == "scheduler") s.scheduler[key] = v;
    else if (section == "grad_scaler") s.grad_scaler[key] = v;
    else FF_THROW("{}: unexpected tensor '{}' (sections: backbone, optimizer, scheduler, grad_scaler)", path, k);
  }
  s.metadata = std::move(c.metadata);
  return s;
}

void write_fc_shard(const std::string& dir, const FcShardState& shard) {
  FF_ASSERT(shard.weight.defined() && shard.weight.dim() == 2 && shard.weight.size(0) == shard.row_end - shard.row_begin,
            "FC shard weight {} does not hold rows [{}, {})", shard.weight.defined() ? shard.weight.describe() : "undefined",
            shard.row_begin, shard.row_end);
  StateDict all = with_prefix(shard.optimizer, "optimizer.");
  all["weight"] = shard.weight;
  SafetensorsMetadata meta;
  meta["format"] = "faceflow.fc_shard";
  meta["row_begin"] = std::to_string(shard.row_begin);
  meta["row_end"] = std::to_string(shard.row_end);
  meta["num_classes"] = std::to_string(shard.num_classes);
  meta["embedding_size"] = std::to_string(shard.weight.size(1));
  save_safetensors(dir + "/" + fc_file_name(shard.row_begin, shard.row_end), all, meta);
}

FcShardState read_fc_rows(const std::string& dir, int64_t row_begin, int64_t row_end, int64_t num_classes) {
  FF_CHECK(0 <= row_begin && row_begin <= row_end && row_end <= num_classes,
           "checkpoint {}: rows [{}, {}) are outside [0, {})", dir, row_begin, row_end, num_classes);
  struct File {
    std::string path;
    int64_t begin = 0, end = 0;
  };
  std::vector<File> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    long long b = 0, e = 0;
    char tail[32] = {0};
    if (name.rfind("fc_rows_", 0) != 0 || entry.path().extension() != ".safetensors") continue;
    FF_CHECK(std::sscanf(name.c_str(), "fc_rows_%lld_%lld%31s", &b, &e, tail) == 3 &&
                 std::string(tail) == ".safetensors",
             "checkpoint {}: cannot read the row range from the file name '{}'", dir, name);
    files.push_back({entry.path().string(), b, e});
  }
  FF_CHECK(!files.empty(), "checkpoint {}: no fc_rows_*.safetensors files (was it saved with save_all_states?)", dir);
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.begin < b.begin; });
  // Only the files that hold some of the rows are read (each file is read whole); at least one,
  // for the scalar optimizer state.
  std::vector<File> needed;
  for (const File& f : files) {
    if (std::max(row_begin, f.begin) < std::min(row_end, f.end)) needed.push_back(f);
  }
  if (needed.empty()) needed.push_back(files.front());
  files = needed;

  FcShardState out;
  out.row_begin = row_begin;
  out.row_end = row_end;
  out.num_classes = num_classes;
  const int64_t rows = row_end - row_begin;
  std::vector<char> covered(static_cast<size_t>(rows), 0);
  int64_t dim = -1;
  bool have_scalars = false;
  StateDict scalars;  // non-row optimizer entries, from the first file read
  std::vector<std::string> row_keys;  // optimizer row tensors, from the first file read
  for (File& f : files) {
    SafetensorsContents c = load_safetensors(f.path);
    FF_CHECK(metadata_int(c.metadata, "row_begin", f.path) == f.begin && metadata_int(c.metadata, "row_end", f.path) == f.end,
             "{}: its metadata row range differs from its name", f.path);
    const int64_t file_classes = metadata_int(c.metadata, "num_classes", f.path);
    FF_CHECK(file_classes == num_classes, "{}: saved for {} classes, the run has {}", f.path, file_classes, num_classes);
    const int64_t file_dim = metadata_int(c.metadata, "embedding_size", f.path);
    FF_CHECK(dim < 0 || file_dim == dim, "{}: embedding_size {} differs from the other shards' {}", f.path, file_dim, dim);
    dim = file_dim;
    auto w = c.tensors.find("weight");
    FF_CHECK(w != c.tensors.end() && w->second.dim() == 2 && w->second.size(0) == f.end - f.begin &&
                 w->second.size(1) == dim,
             "{}: 'weight' must be [{}, {}]", f.path, f.end - f.begin, dim);

    // Classify this file's optimizer entries: [rows, D] tensors are per-row state.
    StateDict file_rows, file_scalars;
    for (auto& [k, v] : c.tensors) {
      if (k == "weight") continue;
      FF_CHECK(k.rfind("optimizer.", 0) == 0, "{}: unexpected tensor '{}'", f.path, k);
      const std::string key = k.substr(10);
      if (v.dim() == 2 && v.size(0) == f.end - f.begin && v.size(1) == dim) file_rows[key] = v;
      else file_scalars[key] = v;
    }
    if (!have_scalars) {
      scalars = file_scalars;
      for (const auto& [k, v] : file_rows) row_keys.push_back(k);
      out.weight = Tensor::empty({rows, dim}, w->second.dtype());
      for (const std::string& k : row_keys) out.optimizer[k] = Tensor::empty({rows, dim}, file_rows[k].dtype());
      have_scalars = true;
    } else {
      std::vector<std::string> keys;
      for (const auto& [k, v] : file_rows) keys.push_back(k);
      FF_CHECK(keys == row_keys, "{}: its optimizer row state ({}) differs from the other shards' ({})", f.path,
               fmt::join(keys, ", "), fmt::join(row_keys, ", "));
      FF_CHECK(file_scalars.size() == scalars.size(), "{}: its optimizer entries differ from the other shards'", f.path);
    }

    const int64_t lo = std::max(row_begin, f.begin), hi = std::min(row_end, f.end);
    if (lo >= hi) continue;
    out.weight.narrow(0, lo - row_begin, hi - lo).copy_(w->second.narrow(0, lo - f.begin, hi - lo));
    for (const std::string& k : row_keys) {
      out.optimizer[k].narrow(0, lo - row_begin, hi - lo).copy_(file_rows[k].narrow(0, lo - f.begin, hi - lo));
    }
    for (int64_t r = lo; r < hi; ++r) covered[static_cast<size_t>(r - row_begin)] = 1;
  }
  const auto gap = std::find(covered.begin(), covered.end(), 0);
  FF_CHECK(gap == covered.end(), "checkpoint {}: no fc_rows file holds class row {} (needed rows [{}, {}))", dir,
           row_begin + (gap - covered.begin()), row_begin, row_end);
  if (rows == 0) {
    // An empty shard (more ranks than classes is refused by the trainer, but stay well-formed).
    out.weight = Tensor::empty({0, std::max<int64_t>(dim, 0)});
  }
  for (auto& [k, v] : scalars) out.optimizer[k] = v;
  return out;
}

}  // namespace ff::apps
