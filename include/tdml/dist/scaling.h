#pragma once
// The ring all-reduce projection behind `tdml bench scaling`: how step time, speedup,
// efficiency and the communication share change with N data-parallel workers when compute
// splits evenly and gradients are averaged by a bandwidth-optimal ring all-reduce:
//   T(N) = T_compute / N + 2 (N-1)/N * grad_bytes / bandwidth + latency
// (the latency term is paid at N = 1 too, as in the study's reading). Pure functions.
#include <cstdint>
#include <vector>

namespace tdml::dist {

struct ScalingModel {
  double compute_s = 0;         // one step's compute on one worker (whole global batch)
  double grad_bytes = 0;        // gradient bytes all-reduced per step
  double bandwidth_Bps = 25e9;  // link bandwidth, bytes per second (study: 25 GB/s)
  double latency_s = 0.05e-3;   // per-step collective latency (study: 0.05 ms)
};

struct ScalingPoint {
  int n = 1;                 // workers
  double compute_s = 0;      // T_compute / N
  double comm_s = 0;         // 2(N-1)/N * bytes / bandwidth + latency
  double step_s = 0;         // compute_s + comm_s
  double speedup = 1;        // T(1) / T(N)
  double efficiency = 1;     // speedup / N
  double comm_fraction = 0;  // comm_s / step_s
};

// One point; throws tdml::Error for n < 1 or non-positive bandwidth.
ScalingPoint project_scaling(const ScalingModel& model, int n);

// Points for N = 1, 2, 4, ... up to max_n (powers of two).
std::vector<ScalingPoint> project_scaling_series(const ScalingModel& model, int max_n);

}  // namespace tdml::dist
