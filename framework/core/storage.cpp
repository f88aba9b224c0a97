#include "framework/core/storage.h"

#include <utility>

#include "framework/common/check.h"

namespace ff {

Storage::Storage(size_t nbytes, Device device)
    : data_(backend_for(device.type).allocator().allocate(nbytes, device.index)),
      nbytes_(nbytes),
      device_(device) {}

Storage::Storage(DataPtr data, size_t nbytes, Device device)
    : data_(std::move(data)), nbytes_(nbytes), device_(device) {
  FF_CHECK(data_ != nullptr || nbytes_ == 0, "Storage: adopted a null buffer for {} bytes on {}", nbytes_,
           device_.str());
}

}  // namespace ff
