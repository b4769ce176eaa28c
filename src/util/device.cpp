#include "tdml/util/device.h"

#include <fstream>

#ifdef TDML_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "tdml/util/error.h"
#include "tdml/util/system.h"

namespace tdml::util {

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw UsageError("--device " + spec +
                       ": CUDA is not available (this LibTorch has no CUDA or no GPU is visible)");
    }
    int index = 0;
    if (spec.size() > 4) {
      if (spec[4] != ':') throw UsageError("--device " + spec + ": expected cuda or cuda:N");
      try {
        index = std::stoi(spec.substr(5));
      } catch (const std::exception&) {
        throw UsageError("--device " + spec + ": expected cuda:N with N a number");
      }
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count())) {
      throw UsageError("--device " + spec + ": only " +
                       std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device " + spec + ": expected auto, cpu, cuda or cuda:N");
}

int set_threads(int n) {
  if (n < 0) throw UsageError("--threads must be >= 0 (0 = all cores)");
  int t = n == 0 ? cpu_cores() : n;
  at::set_num_threads(t);
  return t;
}

std::int64_t peak_memory_bytes(const torch::Device& d) {
#ifdef TDML_HAS_CUDA
  if (d.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index());
    return stats.allocated_bytes[0].peak;
  }
#endif
  return peak_rss_bytes();
}

namespace {

// "5" to clear_refs resets the peak RSS (VmHWM) to the current RSS (proc(5)).
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

bool cpu_peak_resettable() {
  static const bool ok = reset_peak_rss();
  return ok;
}

}  // namespace

void reset_peak_memory(const torch::Device& d) {
#ifdef TDML_HAS_CUDA
  if (d.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(d.index());
    return;
  }
#endif
  if (cpu_peak_resettable()) reset_peak_rss();
}

const char* peak_memory_kind(const torch::Device& d) {
  if (d.is_cuda()) return "cuda_max_allocated";
  return cpu_peak_resettable() ? "peak_rss" : "peak_rss_since_start";
}

void synchronize(const torch::Device& d) {
#ifdef TDML_HAS_CUDA
  if (d.is_cuda()) c10::cuda::device_synchronize();
#endif
}

}  // namespace tdml::util
