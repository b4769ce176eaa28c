#pragma once
// The one place where LibTorch 1.13 and 2.x differ for tdml. Everything else is written once.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#define TDML_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||       \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// c10d's backend base class: 1.13's ProcessGroupGloo/NCCL derive from ProcessGroup, 2.x's from
// Backend (ProcessGroup became a dispatching wrapper). Declared here, defined by c10d's headers.
namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace tdml::compat {

#if TDML_TORCH_AT_LEAST(2, 0)
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// Autocast on/off for a device type. 1.13 has one flag per backend with old names;
// 2.4+ takes the device type.
inline void set_autocast_enabled(c10::DeviceType type, bool on) {
#if TDML_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(type, on);
#else
  if (type == c10::kCPU) {
    at::autocast::set_cpu_enabled(on);
  } else {
    at::autocast::set_enabled(on);
  }
#endif
}

inline void set_autocast_dtype(c10::DeviceType type, at::ScalarType dtype) {
#if TDML_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == c10::kCPU) {
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

inline bool autocast_enabled(c10::DeviceType type) {
#if TDML_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(type);
#else
  return type == c10::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

inline at::ScalarType autocast_dtype(c10::DeviceType type) {
#if TDML_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(type);
#else
  return type == c10::kCPU ? at::autocast::get_autocast_cpu_dtype()
                           : at::autocast::get_autocast_gpu_dtype();
#endif
}

inline void autocast_clear_cache() { at::autocast::clear_cache(); }

}  // namespace tdml::compat
