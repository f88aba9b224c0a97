#include "data/loader/batch_assembler.h"

#include <cstring>
#include <exception>

#include "data/decode/face_decode.h"
#include "framework/common/check.h"

namespace ff::data {

BatchAssembler::BatchAssembler(std::shared_ptr<const RecordSource> source, AssemblerOptions options)
    : source_(std::move(source)), options_(std::move(options)) {
  FF_CHECK(source_ != nullptr, "BatchAssembler: no record source");
  FF_CHECK(options_.dtype == DType::Float32 || options_.dtype == DType::Float16,
           "data loader: batch dtype must be float32 or float16, got {}", dtype_name(options_.dtype));
  FF_CHECK(options_.image_height > 0 && options_.image_width > 0, "data loader: bad image size {}x{}",
           options_.image_height, options_.image_width);
  if (!options_.allocator) options_.allocator = default_host_buffer_allocator();
}

int32_t BatchAssembler::load_row(int64_t index, bool flip, void* image_row) const {
  // Per-thread buffers: reused across samples, so steady-state decoding allocates nothing.
  thread_local RgbImage decoded;
  thread_local RgbImage full_size;
  const FaceExample example = source_->get(index);
  FF_CHECK(example.label >= 0, "{}: negative label {}", source_->describe(index), example.label);
  FF_CHECK(options_.num_classes <= 0 || example.label < options_.num_classes,
           "{}: label {} is outside [0, {}) (num_classes)", source_->describe(index), example.label,
           options_.num_classes);
  const bool resized = decode_face_image(example.encoded_jpeg.data(), example.encoded_jpeg.size(),
                                         source_->describe(index), options_.image_height, options_.image_width,
                                         decoded, full_size, options_.jpeg);
  if (resized) resized_.fetch_add(1, std::memory_order_relaxed);
  if (options_.dtype == DType::Float32) {
    to_normalized_chw(decoded, flip, static_cast<float*>(image_row));
  } else {
    to_normalized_chw(decoded, flip, static_cast<Half*>(image_row));
  }
  return example.label;
}

Batch BatchAssembler::assemble(const std::vector<int64_t>& record_indices, int64_t epoch, int64_t batch_index) const {
  const auto n = static_cast<int64_t>(record_indices.size());
  FF_CHECK(n > 0, "data loader: empty batch {} in epoch {}", batch_index, epoch);
  const int64_t h = options_.image_height, w = options_.image_width;
  Batch batch;
  batch.epoch = epoch;
  batch.index = batch_index;
  batch.record_indices = record_indices;
  batch.images = options_.allocator->allocate({n, 3, h, w}, options_.dtype);
  FF_CHECK(batch.images.device().is_cpu() && batch.images.is_contiguous() && batch.images.dtype() == options_.dtype &&
               batch.images.numel() == n * 3 * h * w,
           "host buffer allocator '{}' returned {}; expected a contiguous CPU {}[{}, 3, {}, {}]",
           options_.allocator->name(), batch.images.describe(), dtype_name(options_.dtype), n, h, w);
  batch.labels = Tensor::empty({n}, DType::Int64);
  auto* images = static_cast<uint8_t*>(batch.images.raw_data());
  int64_t* labels = batch.labels.data<int64_t>();
  const size_t row_bytes = static_cast<size_t>(3 * h * w) * dtype_size(options_.dtype);

  std::vector<bool> bad(static_cast<size_t>(n), false);
  std::string last_error;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t index = record_indices[j];
    const SampleAugmentation aug = decide_augmentation(options_.augment, options_.seed, epoch, index);
    try {
      labels[j] = load_row(index, aug.flip, images + j * row_bytes);
    } catch (const std::exception& e) {
      const std::string message = fmt::format("data loader, epoch {} batch {}: {}", epoch, batch_index, e.what());
      if (options_.on_bad_record == OnBadRecord::Throw) throw Error(message);
      bad_records_.report(message);
      last_error = message;
      bad[j] = true;
      ++batch.bad_records;
    }
  }
  if (batch.bad_records == 0) return batch;

  // Fill each bad row with the next good row (cyclically): a fixed rule, so the batch is the
  // same whichever thread built it.
  for (int64_t j = 0; j < n; ++j) {
    if (!bad[j]) continue;
    int64_t k = (j + 1) % n;
    while (bad[k] && k != j) k = (k + 1) % n;
    if (bad[k]) {
      throw Error(fmt::format("data loader, epoch {} batch {}: all {} records of the batch are bad; last: {}", epoch,
                              batch_index, n, last_error));
    }
    std::memcpy(images + j * row_bytes, images + k * row_bytes, row_bytes);
    labels[j] = labels[k];
    batch.record_indices[j] = record_indices[k];
  }
  return batch;
}

}  // namespace ff::data
