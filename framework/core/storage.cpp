#include "framework/core/storage.h"

namespace ff {

Storage::Storage(size_t nbytes, Device device)
    : data_(backend_for(device.type).allocator().allocate(nbytes, device.index)),
      nbytes_(nbytes),
      device_(device) {}

}  // namespace ff
