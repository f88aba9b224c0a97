// Timing on the CPU or a CUDA device for apps/bench: per-run durations, device checks and
// synchronisation, so that every benchmark mode runs the same code on both (the CPU path is what
// a machine without a GPU can exercise).
#pragma once

#include <memory>
#include <vector>

#include "framework/core/device.h"

namespace ff::bench {

// Throws ff::Error saying why `device` cannot run a benchmark: "no CUDA device: <the driver's
// reason>", a device index that does not exist, or a CPU-only build. A usable CUDA device becomes
// the calling thread's current device.
void check_device_usable(const Device& device);

void synchronize(const Device& device);

// Durations of `runs` numbered runs: CUDA events with timing on the current stream (device time
// from the run's first to its last queued work, gaps included), or a steady clock on the CPU.
// start(i) and stop(i) bracket run i; milliseconds() is read after synchronize(device).
class DeviceTimer {
 public:
  DeviceTimer(const Device& device, int runs);
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;

  void start(int run);
  void stop(int run);
  std::vector<double> milliseconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

double median(std::vector<double> values);  // of a non-empty list

}  // namespace ff::bench
