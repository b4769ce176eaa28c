#include "tdml/study/sample_stats.h"

#include <cmath>
#include <sstream>

#include "tdml/util/error.h"

namespace tdml::study {
namespace {

// Continued fraction of the regularised incomplete beta function (modified Lentz; Numerical
// Recipes, betacf).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1));
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
    d = 1 / guard(1 + aa * d);
    c = guard(1 + aa / c);
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
    d = 1 / guard(1 + aa * d);
    c = guard(1 + aa / c);
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1) < 1e-16) break;
  }
  return h;
}

// I_x(a, b), the regularised incomplete beta function.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

// P(T <= t) for t >= 0 and nu degrees of freedom.
double student_t_cdf_upper_half(double t, double nu) {
  return 1 - 0.5 * incomplete_beta(nu / 2, 0.5, nu / (nu + t * t));
}

}  // namespace

double student_t_quantile(double p, int dof) {
  TDML_CHECK(p > 0 && p < 1 && dof >= 1,
             "student_t_quantile: p must be in (0, 1) and dof >= 1, got " << p << ", " << dof);
  if (p < 0.5) return -student_t_quantile(1 - p, dof);
  if (p == 0.5) return 0;
  const double nu = dof;
  double lo = 0, hi = 1;
  while (student_t_cdf_upper_half(hi, nu) < p && hi < 1e300) hi *= 2;
  // Bisection: the CDF is monotone, and 200 halvings reach the resolution of a double.
  for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf_upper_half(mid, nu) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

SampleSummary summarize_sample(const std::vector<double>& values, double confidence) {
  TDML_CHECK(confidence > 0 && confidence < 1,
             "summarize_sample: confidence must be in (0, 1), got " << confidence);
  SampleSummary s;
  s.n = static_cast<int>(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) {
    TDML_CHECK(std::isfinite(v), "summarize_sample: a value is not finite (" << v << ")");
    sum += v;
  }
  const double mean = sum / s.n;
  s.mean = mean;
  if (s.n < 2) return s;
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  const double sd = std::sqrt(squares / (s.n - 1));
  const double half = student_t_quantile(1 - (1 - confidence) / 2, s.n - 1) * sd /
                      std::sqrt(static_cast<double>(s.n));
  s.std = sd;
  s.ci_low = mean - half;
  s.ci_high = mean + half;
  return s;
}

}  // namespace tdml::study
