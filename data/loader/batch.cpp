#include "data/loader/batch.h"

namespace ff::data {
namespace {

class CpuHostBufferAllocator final : public HostBufferAllocator {
 public:
  Tensor allocate(const Shape& shape, DType dtype) override { return Tensor::empty(shape, dtype, Device()); }
  const char* name() const override { return "cpu (aligned malloc)"; }
};

}  // namespace

std::shared_ptr<HostBufferAllocator> default_host_buffer_allocator() {
  static const auto allocator = std::make_shared<CpuHostBufferAllocator>();
  return allocator;
}

void SynchronousTransfer::start(Batch& batch) {
  if (device_.is_cpu()) return;
  batch.images = batch.images.to(device_);
  batch.host_labels = batch.labels;
  batch.labels = batch.labels.to(device_);
}

}  // namespace ff::data
