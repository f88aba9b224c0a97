// Compiled into faceflow_data in every build; empty unless FF_WITH_CUDA (it needs the CUDA runtime).
#ifdef FF_WITH_CUDA

#include "data/loader/cuda_transfer.h"

#include <cstring>
#include <map>
#include <mutex>

#include "framework/common/check.h"
#include "framework/cuda/caching_allocator.h"
#include "framework/cuda/cuda_runtime.h"
#include "framework/cuda/pinned_allocator.h"

namespace ff::data {
namespace {

// What lives between start() and finish() of one batch.
struct CopyState {
  ff::cuda::Event copied;  // recorded on the copy stream after both copies
  // Pageable sources, kept until finish(). CUDA stages a pageable source before cudaMemcpyAsync
  // returns, so this only makes the lifetime independent of that rule; a pinned source is
  // released at once (the pinned allocator waits for the copy before reusing it).
  Tensor pageable_images;
  Tensor pageable_labels;
};

void check_host_tensor(const Tensor& t, const char* what, const Batch& batch) {
  FF_CHECK(t.defined() && t.device().is_cpu() && t.is_contiguous(),
           "CudaAsyncTransfer::start: epoch {} batch {}: {} must be a contiguous CPU tensor, got {}", batch.epoch,
           batch.index, what, t.defined() ? t.describe() : std::string("an undefined tensor"));
}

// Enqueues dst <- src on `stream` and returns src when it must outlive the copy (pageable),
// or an undefined tensor when the pinned allocator keeps it alive (pinned).
Tensor enqueue_copy(const Tensor& dst, const Tensor& src, cudaStream_t stream) {
  const size_t nbytes = static_cast<size_t>(src.numel()) * src.element_size();
  if (nbytes == 0) return Tensor();
  FF_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes, cudaMemcpyHostToDevice, stream));
  if (ff::cuda::is_pinned(src.raw_data())) {
    ff::cuda::pinned_record_stream(src.raw_data(), stream);
    return Tensor();
  }
  return src;
}

}  // namespace

cudaStream_t batch_copy_stream(int device) {
  static std::mutex mu;
  static std::map<int, cudaStream_t>* streams = new std::map<int, cudaStream_t>();  // never destroyed
  std::lock_guard<std::mutex> lock(mu);
  auto it = streams->find(device);
  if (it != streams->end()) return it->second;
  ff::cuda::check_device(device, "batch_copy_stream");
  ff::cuda::DeviceGuard guard(device);
  cudaStream_t s = nullptr;
  // Non-blocking, like the compute stream: ordering with it comes only from the events.
  FF_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  streams->emplace(device, s);
  return s;
}

CudaAsyncTransfer::CudaAsyncTransfer(Device device) : device_(device) {
  FF_CHECK(device.is_cuda(), "CudaAsyncTransfer: needs a CUDA device, got {}", device.str());
  ff::cuda::check_device(device.index, "creating the loader's CudaAsyncTransfer");
}

void CudaAsyncTransfer::start(Batch& batch) {
  check_host_tensor(batch.images, "images", batch);
  check_host_tensor(batch.labels, "labels", batch);
  // On a worker thread this switches for good: the worker's default device 0 has no context in
  // the process of a rank on another GPU, and DeviceGuard does not create one to restore it.
  ff::cuda::DeviceGuard device_guard(device_.index);
  const cudaStream_t stream = batch_copy_stream(device_.index);
  // Device memory allocated under this guard belongs to the copy stream (caching_allocator.h).
  ff::cuda::StreamGuard stream_guard(stream);

  // Labels are written by the assembler into ordinary memory; a few hundred bytes copied into
  // a pinned block keep the whole transfer asynchronous.
  Tensor host_labels = batch.labels;
  if (!ff::cuda::is_pinned(host_labels.raw_data()) && host_labels.numel() > 0) {
    host_labels = Tensor::empty(batch.labels.sizes(), batch.labels.dtype(), ff::cuda::pinned_allocator());
    std::memcpy(host_labels.raw_data(), batch.labels.raw_data(),
                static_cast<size_t>(batch.labels.numel()) * batch.labels.element_size());
  }

  Tensor images = Tensor::empty(batch.images.sizes(), batch.images.dtype(), device_);
  Tensor labels = Tensor::empty(batch.labels.sizes(), batch.labels.dtype(), device_);
  auto state = std::make_shared<CopyState>();
  state->pageable_images = enqueue_copy(images, batch.images, stream);
  state->pageable_labels = enqueue_copy(labels, host_labels, stream);
  state->copied.record(stream);

  batch.host_labels = batch.labels;
  batch.images = std::move(images);
  batch.labels = std::move(labels);
  batch.transfer_state = std::move(state);
}

void CudaAsyncTransfer::finish(Batch& batch) {
  FF_CHECK(batch.transfer_state != nullptr,
           "CudaAsyncTransfer::finish: epoch {} batch {} was not started by CudaAsyncTransfer::start", batch.epoch,
           batch.index);
  const auto state = std::static_pointer_cast<CopyState>(batch.transfer_state);
  ff::cuda::DeviceGuard device_guard(device_.index);
  const cudaStream_t consumer = ff::cuda::current_stream(device_.index);
  state->copied.wait(consumer);
  // The blocks belong to the copy stream; without this the next batch's copy could overwrite
  // them (stream order on the copy stream only) while the consumer's kernels still read them.
  ff::cuda::record_stream(batch.images, consumer);
  ff::cuda::record_stream(batch.labels, consumer);
  // The wait is enqueued: the event and any pageable source may go now.
  batch.transfer_state.reset();
}

}  // namespace ff::data

#endif  // FF_WITH_CUDA
