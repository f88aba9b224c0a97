// The loader hooks (batch.h) that fit a training device; what the trainer plugs into
// LoaderOptions:
//
//   options.assembler.allocator = make_host_buffer_allocator(device);
//   options.transfer = make_batch_transfer(device);
//
//   device   host buffers                      transfer
//   cpu      default (aligned CPU memory)      SynchronousTransfer: nothing to move
//   cuda:i   PinnedHostBufferAllocator         CudaAsyncTransfer(cuda:i): side-stream copy + event
//
// A CUDA device in a build without CUDA, or one that does not exist, raises ff::Error naming it.
#pragma once

#include <memory>

#include "data/loader/batch.h"

namespace ff::data {

std::shared_ptr<HostBufferAllocator> make_host_buffer_allocator(Device device);
std::shared_ptr<BatchTransfer> make_batch_transfer(Device device);

}  // namespace ff::data
