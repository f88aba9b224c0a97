// Internal to the train-config reader: range and name checks on a TrainConfig, and the derived
// defaults that depend on other keys (synthetic data path and sizes).
#pragma once
#include "apps/common/train_config.h"
#include "apps/common/train_config_keys.h"
#include "train_config.pb.h"

namespace ff::apps::config_detail {

// Throws ff::Error "<where>: <key> <what is wrong>", where <where> is the file line or the
// override that set the key (ConfigLocator::where). `proto` is the parsed form of `config`,
// scanned for non-finite numbers.
void validate_train_config(const TrainConfig& config, const proto::TrainConfigProto& proto,
                           const ConfigLocator& locator);

// Fills what the data format implies once the config is valid: format "synthetic" gets
// data_path "data/synthetic" when none is given, and num_classes / num_image from its generated
// size when left at 0. Other formats keep 0 (the trainer reads them from the dataset).
void fill_derived_defaults(TrainConfig* config);

}  // namespace ff::apps::config_detail
