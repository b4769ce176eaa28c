#pragma once
// Model throughput on in-memory tensors (no data pipeline): forward-only and full training
// steps (the same PlainStep `tdml train` uses), images/s and ms/iter. The study's "GPU
// baseline", and the yardstick the end-to-end training speed is compared with.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tdml::train {

struct ThroughputOptions {
  std::string model = "smallcifarcnn";
  std::int64_t batch_size = 128;
  std::string device = "auto";
  std::string amp = "off";       // off | bf16 | fp16
  bool channels_last = false;
  int threads = 0;               // 0 = all cores
  int warmup = 3;                // untimed iterations first
  int iters = 20;                // timed iterations
  bool train = true;             // also time training steps (SGD, momentum 0.9)
  std::uint64_t seed = 0;
};

// {"model","batch_size","device","amp","channels_last","threads","parameters","gradient_bytes",
//  "forward": {"ms_per_iter","images_per_s"}, "train": {"ms_per_iter","images_per_s"},
//  "peak_memory_bytes"}
nlohmann::json measure_throughput(const ThroughputOptions& o);

}  // namespace tdml::train
