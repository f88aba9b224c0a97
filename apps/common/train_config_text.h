// Internal to the train-config reader: protobuf text format -> TrainConfigProto, with every
// parse error reported at its 1-based line and column and unknown keys explained.
#pragma once
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>

#include "train_config.pb.h"

namespace ff::apps::config_detail {

struct TextError {
  int line = 0, column = 0;  // 1-based
  std::string message;
};

// Parses `text` into *out (cleared first), recording where each field was set in *tree (may be
// null). Returns the errors; empty on success. A key given twice in one section is an error
// (protobuf's Parse, unlike Merge, forbids overwriting a singular field).
std::vector<TextError> parse_text_format(const std::string& text, proto::TrainConfigProto* out,
                                         google::protobuf::TextFormat::ParseInfoTree* tree);

}  // namespace ff::apps::config_detail
