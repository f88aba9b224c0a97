// Internal to the train-config reader: command-line overrides "key=value" applied to a parsed
// TrainConfigProto.
//
//   optimizer.lr=0.05              dotted key: section.key
//   data.val_targets=lfw,cfp_fp    a repeated key takes a comma-separated list and is replaced,
//                                  not appended to; an empty value clears it
//   data.path=/data/ms1m           strings are taken verbatim (no quotes needed)
//   lr=0.05, rec=/data/ms1m        arcface_torch's flat names: a key unique across sections, plus
//                                  the aliases rec -> data.path and optimizer -> optimizer.type
#pragma once
#include <string>

#include "apps/common/train_config_keys.h"
#include "train_config.pb.h"

namespace ff::apps::config_detail {

// Applies one override to *config and records it in *locator so later validation errors name
// the override. Throws ff::Error naming the override when it is not key=value, the key is
// unknown or a section, or the value does not parse as the key's type.
void apply_override(const std::string& override_text, proto::TrainConfigProto* config, ConfigLocator* locator);

}  // namespace ff::apps::config_detail
