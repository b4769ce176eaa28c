#pragma once
// Devices and threads: "auto" | "cpu" | "cuda" | "cuda:N" -> torch::Device, peak memory.
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace tdml::util {

// "auto": CUDA device 0 when available, else CPU. A CUDA request without CUDA, or a device
// index out of range, is a tdml::UsageError.
torch::Device resolve_device(const std::string& spec);

// Intra-op threads: n > 0 as given, 0 = all online cores. Returns the number set.
int set_threads(int n);

// Peak memory since the last reset: CUDA max allocated bytes for a CUDA device, else the
// process's peak RSS (VmHWM). On the CPU, reset_peak_memory lowers VmHWM to the current RSS
// through /proc/self/clear_refs (Linux >= 4.0); where the kernel refuses, the peak stays the
// one since process start and peak_memory_kind says so.
std::int64_t peak_memory_bytes(const torch::Device& d);
void reset_peak_memory(const torch::Device& d);
// What peak_memory_bytes measures on d: "cuda_max_allocated", "peak_rss" (since the last reset)
// or "peak_rss_since_start" (the reset is not available here).
const char* peak_memory_kind(const torch::Device& d);

// Waits for queued device work (CUDA); no-op on CPU. For honest timing.
void synchronize(const torch::Device& d);

}  // namespace tdml::util
