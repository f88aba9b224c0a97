#include "apps/common/train_config_validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "framework/common/check.h"
#include "models/model_factory.h"

namespace ff::apps::config_detail {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr const char* kSyntheticDefaultPath = "data/synthetic";

// Each check names the key and the place its value came from.
class Checker {
 public:
  explicit Checker(const ConfigLocator& locator) : locator_(locator) {}

  template <typename T>
  void require(bool ok, const char* key, const T& value, const char* rule, int index = -1) const {
    if (!ok) FF_THROW("{}: {} must be {}, got {}", locator_.where(key, index), key, rule, value);
  }

  void one_of(const std::string& value, const char* key, const std::vector<std::string>& names) const {
    if (std::find(names.begin(), names.end(), value) == names.end()) {
      FF_THROW("{}: {} \"{}\" is not one of {}", locator_.where(key), key, value, fmt::join(names, ", "));
    }
  }

  const ConfigLocator& locator() const { return locator_; }

 private:
  const ConfigLocator& locator_;
};

// inf/nan pass comparisons like "> 0", so every floating key is checked for a finite value first.
void check_finite(const Message& message, const std::string& prefix, const ConfigLocator& locator) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string key = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      check_finite(message.GetReflection()->GetMessage(message, f), key, locator);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE && !f->is_repeated()) {
      const double v = message.GetReflection()->GetDouble(message, f);
      if (!std::isfinite(v)) FF_THROW("{}: {} must be a finite number, got {}", locator.where(key), key, v);
    }
  }
}

void check_model(const TrainConfig& c, const Checker& check) {
  check.one_of(c.network, "model.network", models::backbone_names());
  check.require(c.embedding_size > 0, "model.embedding_size", c.embedding_size, "> 0");
  check.require(c.dropout >= 0 && c.dropout < 1, "model.dropout", c.dropout, "in [0, 1)");
  if (c.dropout > 0 && c.network.rfind("mbf", 0) == 0) {
    FF_THROW("{}: model.dropout must be 0 for {} (MobileFaceNet has no dropout layer), got {}",
             check.locator().where("model.dropout"), c.network, c.dropout);
  }
  check.require(c.width_divisor >= 1, "model.width_divisor", c.width_divisor, ">= 1");
  check.require(c.input_size > 0 && c.input_size % 16 == 0, "model.input_size", c.input_size,
                "a positive multiple of 16 (the backbones downsample 16x)");
}

void check_margin(const TrainConfig& c, const Checker& check) {
  check.require(c.m1 > 0, "margin.m1", c.m1, "> 0");
  check.require(c.m2 >= 0 && c.m2 < kPi, "margin.m2", c.m2, "in [0, pi)");
  check.require(c.m3 >= 0 && c.m3 < 1, "margin.m3", c.m3, "in [0, 1)");
  check.require(c.scale > 0, "margin.s", c.scale, "> 0");
  check.require(c.sample_rate >= 0 && c.sample_rate <= 1, "margin.sample_rate", c.sample_rate, "in [0, 1]");
  check.require(c.interclass_filtering_threshold >= 0 && c.interclass_filtering_threshold <= 1,
                "margin.interclass_filtering_threshold", c.interclass_filtering_threshold, "in [0, 1]");
}

void check_optimizer(const TrainConfig& c, const Checker& check) {
  check.one_of(c.optimizer, "optimizer.type", {"sgd", "adamw"});
  check.require(c.batch_size > 0, "optimizer.batch_size", c.batch_size, "> 0");
  check.require(c.lr > 0, "optimizer.lr", c.lr, "> 0");
  check.require(c.momentum >= 0 && c.momentum < 1, "optimizer.momentum", c.momentum, "in [0, 1)");
  check.require(c.weight_decay >= 0, "optimizer.weight_decay", c.weight_decay, ">= 0");
  check.require(c.num_epoch > 0, "optimizer.num_epoch", c.num_epoch, "> 0");
  check.require(c.warmup_epoch >= 0 && c.warmup_epoch < c.num_epoch, "optimizer.warmup_epoch", c.warmup_epoch,
                fmt::format("in [0, optimizer.num_epoch = {})", c.num_epoch).c_str());
  check.require(c.gradient_acc >= 1, "optimizer.gradient_acc", c.gradient_acc, ">= 1");
  check.require(c.clip_grad_norm >= 0, "optimizer.clip_grad_norm", c.clip_grad_norm, ">= 0 (0 = off)");
  check.require(c.max_steps >= 0, "optimizer.max_steps", c.max_steps, ">= 0 (0 = no limit)");
}

void check_data(const TrainConfig& c, const Checker& check) {
  check.one_of(c.data_format, "data.format", {"ofrecord", "rec", "folder", "synthetic"});
  const bool synthetic = c.data_format == "synthetic";
  if (!synthetic && c.data_path.empty()) {
    FF_THROW("{}: data.path is required for data.format \"{}\"", check.locator().where("data.path"), c.data_format);
  }
  check.require(c.num_classes >= 0, "data.num_classes", c.num_classes, ">= 0 (0 = from the dataset)");
  check.require(c.num_image >= 0, "data.num_image", c.num_image, ">= 0 (0 = from the dataset)");
  // OFRecord parts hold only (image, label) records: the class count would need a pass over every
  // label of the dataset, so it must be given. RecordIO has it in its header record, an image
  // folder in its subdirectory count, the synthetic set in its size.
  if (c.data_format == "ofrecord" && c.num_classes == 0) {
    FF_THROW("{}: data.num_classes is required (> 0) for data.format \"ofrecord\" (OFRecord parts do not store it)",
             check.locator().where("data.num_classes"));
  }
  check.require(c.synthetic_identities > 0, "data.synthetic_identities", c.synthetic_identities, "> 0");
  check.require(c.synthetic_images_per_identity > 0, "data.synthetic_images_per_identity",
                c.synthetic_images_per_identity, "> 0");
  if (synthetic && c.num_classes > 0) {
    check.require(c.num_classes >= c.synthetic_identities, "data.num_classes", c.num_classes,
                  fmt::format(">= data.synthetic_identities = {} (labels must fit)", c.synthetic_identities).c_str());
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < c.val_targets.size(); ++i) {
    const std::string& name = c.val_targets[i];
    const int index = static_cast<int>(i);
    const std::string where = check.locator().where("data.val_targets", index);
    FF_CHECK(!name.empty(), "{}: data.val_targets[{}] is empty", where, i);
    FF_CHECK(name.find('/') == std::string::npos,
             "{}: data.val_targets \"{}\" must be a name (the file is <val_dir>/<name>.bin), not a path", where, name);
    FF_CHECK(name.size() < 4 || name.compare(name.size() - 4, 4, ".bin") != 0,
             "{}: data.val_targets \"{}\": give the name without .bin", where, name);
    FF_CHECK(seen.insert(name).second, "{}: data.val_targets lists \"{}\" twice", where, name);
  }
  check.require(c.num_workers >= 0, "data.num_workers", c.num_workers, ">= 0");
  check.one_of(c.image_dtype, "data.image_dtype", {"fp32", "fp16"});
}

void check_logging(const TrainConfig& c, const Checker& check) {
  check.require(c.verbose >= 0, "logging.verbose", c.verbose, ">= 0 (0 = verify only at the end)");
  check.require(c.frequent >= 0, "logging.frequent", c.frequent, ">= 0");
  if (c.output.empty()) FF_THROW("{}: logging.output must not be empty", check.locator().where("logging.output"));
  check.require(c.save_every_steps >= 0, "logging.save_every_steps", c.save_every_steps, ">= 0 (0 = each epoch)");
  check.require(c.keep_checkpoints >= 0, "logging.keep_checkpoints", c.keep_checkpoints, ">= 0 (0 = keep all)");
}

}  // namespace

void validate_train_config(const TrainConfig& config, const proto::TrainConfigProto& proto,
                           const ConfigLocator& locator) {
  check_finite(proto, "", locator);
  const Checker check(locator);
  check_model(config, check);
  check_margin(config, check);
  check.one_of(config.precision, "precision", {"fp32", "fp16", "bf16"});
  check_optimizer(config, check);
  check_data(config, check);
  check_logging(config, check);
  check.one_of(config.device, "device", {"auto", "cpu", "cuda"});
}

void fill_derived_defaults(TrainConfig* config) {
  if (config->data_format != "synthetic") return;
  if (config->data_path.empty()) config->data_path = kSyntheticDefaultPath;
  if (config->num_classes == 0) config->num_classes = config->synthetic_identities;
  if (config->num_image == 0) config->num_image = config->synthetic_identities * config->synthetic_images_per_identity;
}

}  // namespace ff::apps::config_detail
