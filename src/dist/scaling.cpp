#include "tdml/dist/scaling.h"

#include "tdml/util/error.h"

namespace tdml::dist {
namespace {

double step_time(const ScalingModel& m, int n, double* compute, double* comm) {
  *compute = m.compute_s / n;
  *comm = 2.0 * (n - 1) / n * m.grad_bytes / m.bandwidth_Bps + m.latency_s;
  return *compute + *comm;
}

}  // namespace

ScalingPoint project_scaling(const ScalingModel& m, int n) {
  TDML_CHECK(n >= 1, "scaling projection: N must be >= 1, got " << n);
  TDML_CHECK(m.bandwidth_Bps > 0, "scaling projection: bandwidth must be > 0");
  TDML_CHECK(m.compute_s >= 0 && m.grad_bytes >= 0 && m.latency_s >= 0,
             "scaling projection: compute time, bytes and latency must be >= 0");
  ScalingPoint p;
  p.n = n;
  p.step_s = step_time(m, n, &p.compute_s, &p.comm_s);
  double c1 = 0, k1 = 0;
  const double t1 = step_time(m, 1, &c1, &k1);
  p.speedup = p.step_s > 0 ? t1 / p.step_s : 1.0;
  p.efficiency = p.speedup / n;
  p.comm_fraction = p.step_s > 0 ? p.comm_s / p.step_s : 0.0;
  return p;
}

std::vector<ScalingPoint> project_scaling_series(const ScalingModel& m, int max_n) {
  TDML_CHECK(max_n >= 1, "scaling projection: max N must be >= 1, got " << max_n);
  std::vector<ScalingPoint> out;
  for (int n = 1; n <= max_n; n *= 2) out.push_back(project_scaling(m, n));
  return out;
}

}  // namespace tdml::dist
