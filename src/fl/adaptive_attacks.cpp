#include "tdml/fl/adaptive_attacks.h"

#include <cmath>

#include "tdml/fl/aggregators.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

void check_benign(const torch::Tensor& benign, const char* who) {
  TDML_CHECK(benign.defined() && benign.dim() == 2 && benign.size(0) >= 1,
             who << ": needs at least one benign update in the round");
}

}  // namespace

double normal_quantile(double p) {
  TDML_CHECK(p > 0 && p < 1, "normal quantile of " << p);
  // Bisection on erfc to machine precision: Phi(x) = erfc(-x / sqrt 2) / 2.
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double alie_z(int n, int f) {
  TDML_CHECK(n >= 1 && f >= 0 && f <= n, "alie: n = " << n << ", f = " << f);
  const int s = n / 2 + 1 - f;
  if (s >= n || s <= 0) return s <= 0 ? normal_quantile(1 - 1e-9) : 0.0;
  return normal_quantile(static_cast<double>(n - s) / n);
}

torch::Tensor alie_update(const torch::Tensor& benign, double z) {
  check_benign(benign, "alie");
  auto x = benign.to(torch::kFloat64);
  auto mean = x.mean(0);
  auto std = benign.size(0) > 1 ? x.std(0, /*unbiased=*/false) : torch::zeros_like(mean);
  return (mean - z * std).to(benign.scalar_type());
}

torch::Tensor ipm_update(const torch::Tensor& benign, double eps) {
  check_benign(benign, "ipm");
  return (-eps * benign.to(torch::kFloat64).mean(0)).to(benign.scalar_type());
}

torch::Tensor minmax_update(const torch::Tensor& benign, double* gamma_out) {
  check_benign(benign, "minmax");
  auto x = benign.to(torch::kFloat64);
  auto mean = x.mean(0);
  auto p = benign.size(0) > 1 ? -x.std(0, false) : torch::zeros_like(mean);
  const double bound = pairwise_sq_distances(x).max().item<double>();
  // Largest squared distance from the crafted update to a benign one.
  auto worst = [&](double g) {
    auto m = mean + g * p;
    return ((x - m.unsqueeze(0)).pow(2)).sum(1).max().item<double>();
  };
  double gamma = 0;
  if (p.abs().sum().item<double>() > 0) {
    double hi = 1;
    while (worst(hi) <= bound && hi < 1e12) hi *= 2;
    double lo = 0;
    for (int i = 0; i < 60; ++i) {
      const double mid = 0.5 * (lo + hi);
      (worst(mid) <= bound ? lo : hi) = mid;
    }
    gamma = lo;
  }
  if (gamma_out) *gamma_out = gamma;
  return (mean + gamma * p).to(benign.scalar_type());
}

}  // namespace tdml::fl
