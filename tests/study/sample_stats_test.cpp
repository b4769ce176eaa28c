#include "tdml/study/sample_stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tdml/util/error.h"

namespace tdml::study {
namespace {

// Two-sided 95% quantiles from any t table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
TEST(SampleStats, StudentTQuantilesMatchTheTable) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302652730, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445105, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228138852, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042272456, 1e-8);
  EXPECT_NEAR(student_t_quantile(0.995, 1), 63.656741163, 1e-7);
  // Large dof: the normal 1.959964 plus (z^3 + z) / (4 dof) = 0.0000237.
  EXPECT_NEAR(student_t_quantile(0.975, 100000), 1.959988, 1e-6);
  EXPECT_DOUBLE_EQ(student_t_quantile(0.025, 4), -student_t_quantile(0.975, 4));
  EXPECT_EQ(student_t_quantile(0.5, 3), 0.0);
  EXPECT_THROW(student_t_quantile(1.0, 3), Error);
  EXPECT_THROW(student_t_quantile(0.9, 0), Error);
}

// 1..5: mean 3, s^2 = (4 + 1 + 0 + 1 + 4) / 4 = 2.5, half width t(0.975, 4) * s / sqrt(5).
TEST(SampleStats, MeanSampleStdAndTIntervalByHand) {
  const auto s = summarize_sample({1, 2, 3, 4, 5});
  EXPECT_EQ(s.n, 5);
  ASSERT_TRUE(s.mean && s.std && s.ci_low && s.ci_high);
  EXPECT_DOUBLE_EQ(*s.mean, 3.0);
  EXPECT_NEAR(*s.std, std::sqrt(2.5), 1e-12);
  const double half = 2.7764451051977987 * std::sqrt(2.5) / std::sqrt(5.0);  // 1.96324
  EXPECT_NEAR(*s.ci_low, 3.0 - half, 1e-9);
  EXPECT_NEAR(*s.ci_high, 3.0 + half, 1e-9);
  EXPECT_NEAR(*s.ci_low, 1.036757, 1e-6);
  // Two values 0.4 and 0.5: s = 0.0707107, t(0.975, 1) = 12.7062, half = 12.7062 * 0.05.
  const auto two = summarize_sample({0.4, 0.5});
  EXPECT_NEAR(*two.std, 0.070710678, 1e-9);
  EXPECT_NEAR(*two.ci_high - *two.mean, 0.635310237, 1e-8);
}

TEST(SampleStats, OneValueHasAMeanButNoSpreadOrInterval) {
  const auto one = summarize_sample({0.42});
  EXPECT_EQ(one.n, 1);
  ASSERT_TRUE(one.mean);
  EXPECT_DOUBLE_EQ(*one.mean, 0.42);
  EXPECT_FALSE(one.std);
  EXPECT_FALSE(one.ci_low);
  EXPECT_FALSE(one.ci_high);
  const auto none = summarize_sample({});
  EXPECT_EQ(none.n, 0);
  EXPECT_FALSE(none.mean);
  EXPECT_THROW(summarize_sample({1.0, NAN}), Error);
}

}  // namespace
}  // namespace tdml::study
