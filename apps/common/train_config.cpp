// TrainConfig <-> TrainConfigProto, and the reader: text -> proto (train_config_text.cpp) ->
// overrides (train_config_overrides.cpp) -> TrainConfig -> checks (train_config_validate.cpp).
#include "apps/common/train_config.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "apps/common/train_config_keys.h"
#include "apps/common/train_config_overrides.h"
#include "apps/common/train_config_text.h"
#include "apps/common/train_config_validate.h"
#include "framework/common/check.h"
#include "train_config.pb.h"

namespace ff::apps {

namespace {

// Keys absent from the file keep TrainConfig's defaults (proto2 has_*), so defaults live in
// train_config.h only.
TrainConfig from_proto(const proto::TrainConfigProto& p) {
  TrainConfig c;
  const proto::ModelConfig& model = p.model();
  if (model.has_network()) c.network = model.network();
  if (model.has_embedding_size()) c.embedding_size = model.embedding_size();
  if (model.has_dropout()) c.dropout = model.dropout();
  if (model.has_width_divisor()) c.width_divisor = model.width_divisor();
  if (model.has_input_size()) c.input_size = model.input_size();

  const proto::MarginConfig& margin = p.margin();
  if (margin.has_m1()) c.m1 = margin.m1();
  if (margin.has_m2()) c.m2 = margin.m2();
  if (margin.has_m3()) c.m3 = margin.m3();
  if (margin.has_s()) c.scale = margin.s();
  if (margin.has_sample_rate()) c.sample_rate = margin.sample_rate();
  if (margin.has_interclass_filtering_threshold()) c.interclass_filtering_threshold = margin.interclass_filtering_threshold();

  if (p.has_precision()) c.precision = p.precision();
  if (p.has_device()) c.device = p.device();

  const proto::OptimizerConfig& opt = p.optimizer();
  if (opt.has_type()) c.optimizer = opt.type();
  if (opt.has_batch_size()) c.batch_size = opt.batch_size();
  if (opt.has_lr()) c.lr = opt.lr();
  if (opt.has_momentum()) c.momentum = opt.momentum();
  if (opt.has_weight_decay()) c.weight_decay = opt.weight_decay();
  if (opt.has_num_epoch()) c.num_epoch = opt.num_epoch();
  if (opt.has_warmup_epoch()) c.warmup_epoch = opt.warmup_epoch();
  if (opt.has_gradient_acc()) c.gradient_acc = opt.gradient_acc();
  if (opt.has_clip_grad_norm()) c.clip_grad_norm = opt.clip_grad_norm();
  if (opt.has_seed()) c.seed = opt.seed();
  if (opt.has_max_steps()) c.max_steps = opt.max_steps();

  const proto::DataConfig& data = p.data();
  if (data.has_path()) c.data_path = data.path();
  if (data.has_format()) c.data_format = data.format();
  if (data.has_num_classes()) c.num_classes = data.num_classes();
  if (data.has_num_image()) c.num_image = data.num_image();
  c.val_targets.assign(data.val_targets().begin(), data.val_targets().end());
  if (data.has_val_dir()) c.val_dir = data.val_dir();
  if (data.has_num_workers()) c.num_workers = data.num_workers();
  if (data.has_image_dtype()) c.image_dtype = data.image_dtype();
  if (data.has_synthetic_identities()) c.synthetic_identities = data.synthetic_identities();
  if (data.has_synthetic_images_per_identity()) c.synthetic_images_per_identity = data.synthetic_images_per_identity();

  const proto::LoggingConfig& log = p.logging();
  if (log.has_verbose()) c.verbose = log.verbose();
  if (log.has_frequent()) c.frequent = log.frequent();
  if (log.has_output()) c.output = log.output();
  if (log.has_resume()) c.resume = log.resume();
  if (log.has_save_every_steps()) c.save_every_steps = log.save_every_steps();
  if (log.has_save_all_states()) c.save_all_states = log.save_all_states();
  return c;
}

// Every field set, so the text shows the effective value of every key.
proto::TrainConfigProto to_proto(const TrainConfig& c) {
  proto::TrainConfigProto p;
  proto::ModelConfig& model = *p.mutable_model();
  model.set_network(c.network);
  model.set_embedding_size(c.embedding_size);
  model.set_dropout(c.dropout);
  model.set_width_divisor(c.width_divisor);
  model.set_input_size(c.input_size);

  proto::MarginConfig& margin = *p.mutable_margin();
  margin.set_m1(c.m1);
  margin.set_m2(c.m2);
  margin.set_m3(c.m3);
  margin.set_s(c.scale);
  margin.set_sample_rate(c.sample_rate);
  margin.set_interclass_filtering_threshold(c.interclass_filtering_threshold);

  p.set_precision(c.precision);
  p.set_device(c.device);

  proto::OptimizerConfig& opt = *p.mutable_optimizer();
  opt.set_type(c.optimizer);
  opt.set_batch_size(c.batch_size);
  opt.set_lr(c.lr);
  opt.set_momentum(c.momentum);
  opt.set_weight_decay(c.weight_decay);
  opt.set_num_epoch(c.num_epoch);
  opt.set_warmup_epoch(c.warmup_epoch);
  opt.set_gradient_acc(c.gradient_acc);
  opt.set_clip_grad_norm(c.clip_grad_norm);
  opt.set_seed(c.seed);
  opt.set_max_steps(c.max_steps);

  proto::DataConfig& data = *p.mutable_data();
  data.set_path(c.data_path);
  data.set_format(c.data_format);
  data.set_num_classes(c.num_classes);
  data.set_num_image(c.num_image);
  for (const std::string& t : c.val_targets) data.add_val_targets(t);
  data.set_val_dir(c.val_dir);
  data.set_num_workers(c.num_workers);
  data.set_image_dtype(c.image_dtype);
  data.set_synthetic_identities(c.synthetic_identities);
  data.set_synthetic_images_per_identity(c.synthetic_images_per_identity);

  proto::LoggingConfig& log = *p.mutable_logging();
  log.set_verbose(c.verbose);
  log.set_frequent(c.frequent);
  log.set_output(c.output);
  log.set_resume(c.resume);
  log.set_save_every_steps(c.save_every_steps);
  log.set_save_all_states(c.save_all_states);
  return p;
}

}  // namespace

TrainConfig parse_train_config(const std::string& text, const std::string& source_name,
                               const std::vector<std::string>& overrides) {
  proto::TrainConfigProto proto;
  google::protobuf::TextFormat::ParseInfoTree tree;
  const std::vector<config_detail::TextError> errors = config_detail::parse_text_format(text, &proto, &tree);
  if (!errors.empty()) {
    std::string message;
    for (const config_detail::TextError& e : errors) {
      message += fmt::format("{}{}:{}:{}: {}", message.empty() ? "" : "\n", source_name, e.line, e.column, e.message);
    }
    FF_THROW("{}", message);
  }
  config_detail::ConfigLocator locator(source_name, &tree);
  for (const std::string& o : overrides) config_detail::apply_override(o, &proto, &locator);
  TrainConfig config = from_proto(proto);
  config_detail::validate_train_config(config, proto, locator);
  config_detail::fill_derived_defaults(&config);
  config.source_file = source_name;
  return config;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  FF_CHECK(in.good(), "cannot open config file '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  FF_CHECK(!in.bad(), "cannot read config file '{}'", path);
  return parse_train_config(text.str(), path, overrides);
}

std::string train_config_to_text(const TrainConfig& config) {
  google::protobuf::TextFormat::Printer printer;
  std::string body;
  FF_ASSERT(printer.PrintToString(to_proto(config), &body), "printing the TrainConfigProto failed");
  std::string header = "# FaceFlow training config: every key with its effective value";
  if (!config.source_file.empty()) {
    std::string source = config.source_file;
    for (char& ch : source) {
      if (ch == '\n' || ch == '\r') ch = ' ';  // keep the comment on one line
    }
    header += fmt::format(" (read from {})", source);
  }
  return header + "\n" + body;
}

}  // namespace ff::apps
