#include "tdml/fl/dp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b)).
double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(std::min(a, b) - m));
}

// log(exp(a) - exp(b)), a >= b.
double log_sub(double a, double b) {
  if (b == kNegInf) return a;
  if (a <= b) return kNegInf;  // rounding: the difference vanished
  return a + std::log1p(-std::exp(b - a));
}

// log |binomial(alpha, k)| for real alpha and integer k >= 0, and its sign.
double log_abs_binom(double alpha, int k, int* sign) {
  *sign = 1;
  // binom(alpha, k) = prod_{j<k} (alpha - j) / (j + 1)
  double l = 0;
  for (int j = 0; j < k; ++j) {
    const double f = alpha - j;
    if (f < 0) *sign = -*sign;
    if (f == 0) return kNegInf;
    l += std::log(std::fabs(f)) - std::log(j + 1.0);
  }
  return l;
}

// log(erfc(x)) without underflow for large x.
double log_erfc(double x) {
  if (x < 20) return std::log(std::erfc(x));
  // Asymptotic series: erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4)).
  const double x2 = x * x;
  return -x2 - std::log(x) - 0.5 * std::log(M_PI) +
         std::log1p(-1 / (2 * x2) + 3 / (4 * x2 * x2));
}

// log A_alpha for integer alpha: sum_k binom(alpha, k) (1-q)^(alpha-k) q^k exp((k^2-k)/(2s^2)).
double log_a_int(double q, double sigma, int alpha) {
  double acc = kNegInf;
  int sign = 1;
  for (int k = 0; k <= alpha; ++k) {
    const double lb = log_abs_binom(alpha, k, &sign);
    const double t = lb + k * std::log(q) + (alpha - k) * std::log1p(-q) +
                     (static_cast<double>(k) * k - k) / (2 * sigma * sigma);
    acc = log_add(acc, t);
  }
  return acc;
}

// log A_alpha for real alpha (Mironov, Talwar and Zhang 2019, section 3.3): two series split
// at z0 = sigma^2 log(1/q - 1) + 1/2, summed until their terms are below e^-30.
double log_a_frac(double q, double sigma, double alpha) {
  double a0 = kNegInf, a1 = kNegInf;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  const double s2 = 2 * sigma * sigma;
  double lc = 0;  // log |binom(alpha, i)|, updated incrementally
  int sign = 1;
  for (int i = 0; i < 10'000'000; ++i) {
    if (i > 0) {
      const double f = alpha - (i - 1);
      if (f < 0) sign = -sign;
      lc += std::log(std::fabs(f)) - std::log(static_cast<double>(i));
    }
    const double j = alpha - i;
    const double t0 = lc + i * std::log(q) + j * std::log1p(-q);
    const double t1 = lc + j * std::log(q) + i * std::log1p(-q);
    const double e0 = std::log(0.5) + log_erfc((i - z0) / (std::sqrt(2.0) * sigma));
    const double e1 = std::log(0.5) + log_erfc((z0 - j) / (std::sqrt(2.0) * sigma));
    const double s0 = t0 + (static_cast<double>(i) * i - i) / s2 + e0;
    const double s1 = t1 + (j * j - j) / s2 + e1;
    if (sign > 0) {
      a0 = log_add(a0, s0);
      a1 = log_add(a1, s1);
    } else {
      a0 = log_sub(a0, s0);
      a1 = log_sub(a1, s1);
    }
    if (i > alpha && std::max(s0, s1) < -30) break;
  }
  return log_add(a0, a1);
}

}  // namespace

void DpOptions::validate() const {
  if (clip < 0) throw UsageError("--dp-clip must be >= 0 (0 = no differential privacy)");
  if (!enabled()) {
    if (noise != 0 || local || adaptive) {
      throw UsageError("--dp-noise, --dp-local and --dp-adaptive-clip need --dp-clip C > 0");
    }
    return;
  }
  if (!(noise >= 0)) throw UsageError("--dp-noise must be >= 0");
  if (!(delta > 0 && delta < 1)) throw UsageError("--dp-delta must be in (0, 1)");
  if (adaptive && local) throw UsageError("--dp-adaptive-clip is for central DP, not --dp-local");
  if (adaptive && !(target_quantile > 0 && target_quantile < 1)) {
    throw UsageError("--dp-target-quantile must be in (0, 1)");
  }
  if (adaptive && !(clip_lr > 0)) throw UsageError("--dp-clip-lr must be > 0");
}

std::vector<double> rdp_orders() {
  std::vector<double> o = {1.25, 1.5, 1.75, 2.25, 2.5, 2.75, 3.5, 4.5};
  for (int a = 2; a <= 64; ++a) o.push_back(a);
  for (double a : {80.0, 96.0, 128.0, 192.0, 256.0}) o.push_back(a);
  std::sort(o.begin(), o.end());
  return o;
}

double rdp_sampled_gaussian(double q, double sigma, double order) {
  if (!(q >= 0 && q <= 1)) throw UsageError("DP accountant: sampling rate must be in [0, 1]");
  if (!(sigma > 0)) throw UsageError("DP accountant: the noise multiplier must be > 0");
  if (!(order > 1)) throw UsageError("DP accountant: orders must be > 1");
  if (q == 0) return 0;
  if (q == 1) return order / (2 * sigma * sigma);
  const double la = order == std::floor(order) ? log_a_int(q, sigma, static_cast<int>(order))
                                               : log_a_frac(q, sigma, order);
  return std::max(0.0, la / (order - 1));
}

PrivacySpent privacy_spent(double q, double sigma, int rounds, double delta) {
  PrivacySpent best;
  best.delta = delta;
  best.epsilon = std::numeric_limits<double>::infinity();
  if (!(sigma > 0)) return best;
  for (double a : rdp_orders()) {
    const double eps = rounds * rdp_sampled_gaussian(q, sigma, a) + std::log(1 / delta) / (a - 1);
    if (eps < best.epsilon) {
      best.epsilon = eps;
      best.order = a;
    }
  }
  return best;
}

double update_noise_multiplier(double sigma, double count_sigma) {
  if (!(count_sigma > sigma / 2)) {
    throw UsageError("--dp-adaptive-clip: the count noise (" + std::to_string(count_sigma) +
                     ") must exceed half the noise multiplier (" + std::to_string(sigma) +
                     "); raise --dp-count-noise or lower --dp-noise");
  }
  return std::pow(std::pow(sigma, -2) - std::pow(2 * count_sigma, -2), -0.5);
}

torch::Tensor local_dp_update(const torch::Tensor& update, double clip, double noise,
                              std::uint64_t seed) {
  auto u = update.to(torch::kFloat32);
  const double norm = u.norm().item<double>();
  if (norm > clip) u = u * (clip / norm);
  if (noise > 0) {
    auto gen = at::detail::createCPUGenerator(seed);
    u = u + torch::randn(u.sizes(), gen, torch::kFloat32).to(u.device()) * (noise * clip);
  }
  return u;
}

}  // namespace tdml::fl
