#include "data/loader/record_source.h"

#include "framework/common/check.h"

namespace ff::data {

InMemoryRecordSource::InMemoryRecordSource(std::vector<FaceExample> examples, std::string name)
    : examples_(std::move(examples)), name_(std::move(name)) {}

FaceExample InMemoryRecordSource::get(int64_t index) const {
  FF_CHECK(index >= 0 && index < size(), "{}: record index {} out of range [0, {})", name_, index, size());
  return examples_[static_cast<size_t>(index)];
}

std::string InMemoryRecordSource::describe(int64_t index) const {
  return name_ + " record " + std::to_string(index);
}

}  // namespace ff::data
