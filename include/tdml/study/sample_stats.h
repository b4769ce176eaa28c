#pragma once
// Summary statistics of a small sample, such as one value per seed of an experiment: the mean,
// the sample standard deviation (n - 1 in the denominator) and a two-sided Student t confidence
// interval for the mean, mean +- t(1 - (1 - confidence) / 2, n - 1) * s / sqrt(n).
#include <optional>
#include <vector>

namespace tdml::study {

struct SampleSummary {
  int n = 0;                     // values summarised
  std::optional<double> mean;    // none when n = 0
  std::optional<double> std;     // sample standard deviation; none when n < 2
  std::optional<double> ci_low;  // the t interval; none when n < 2 (no degrees of freedom)
  std::optional<double> ci_high;
};

// `confidence` in (0, 1), e.g. 0.95. Values must be finite (tdml::Error otherwise).
SampleSummary summarize_sample(const std::vector<double>& values, double confidence = 0.95);

// The p-quantile of Student's t distribution with `dof` >= 1 degrees of freedom, p in (0, 1):
// student_t_quantile(0.975, 4) = 2.776. Accurate to about 1e-10.
double student_t_quantile(double p, int dof);

}  // namespace tdml::study
