#pragma once
// The system report the study opens with (`tdml info`): machine, LibTorch build, CUDA devices,
// c10d backends (with a real one-process Gloo group test), distributed environment variables.
#include <string>

#include <nlohmann/json.hpp>

namespace tdml::metrics {

nlohmann::json system_report();

// Human-readable rendering of system_report(), one fact a line.
std::string format_system_report(const nlohmann::json& report);

}  // namespace tdml::metrics
