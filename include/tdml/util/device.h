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
// process's peak RSS (which cannot be reset: it is the peak since process start).
std::int64_t peak_memory_bytes(const torch::Device& d);
void reset_peak_memory(const torch::Device& d);
// "cuda_max_allocated" or "peak_rss": what peak_memory_bytes measures on d.
const char* peak_memory_kind(const torch::Device& d);

// Waits for queued device work (CUDA); no-op on CPU. For honest timing.
void synchronize(const torch::Device& d);

}  // namespace tdml::util
