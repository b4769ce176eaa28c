#include "tdml/fl/detection.h"

#include <gtest/gtest.h>

#include "tdml/fl/attacks.h"

using namespace tdml::fl;

namespace {

constexpr int kDim = 2000;

// `benign` updates drawn around a common mean (norm ~1), then the attackers' updates.
torch::Tensor round_updates(int benign, const std::vector<UpdateAttack>& attacks,
                            std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto mu = at::normal(0.0, 1.0, {kDim}, gen, torch::kFloat32) / std::sqrt(kDim);
  std::vector<torch::Tensor> rows;
  for (int i = 0; i < benign + static_cast<int>(attacks.size()); ++i) {
    rows.push_back(mu + at::normal(0.0, 0.5 / std::sqrt(kDim), {kDim}, gen, torch::kFloat32));
  }
  for (std::size_t a = 0; a < attacks.size(); ++a) {
    auto& r = rows[benign + a];
    r = apply_update_attack(attacks[a], r, AttackOptions{}, seed * 100 + a);
  }
  return torch::stack(rows);
}

std::vector<int> ids(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST(FlDetection, FlagsZeroMeanShiftAndGaussianAttackers) {
  const std::vector<UpdateAttack> attacks = {UpdateAttack::kZero, UpdateAttack::kMeanShift,
                                             UpdateAttack::kGaussian};
  std::vector<int> detected_all, malicious_all;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    auto u = round_updates(10, attacks, seed);
    auto scores = score_updates(u, ids(13), DetectionOptions{});
    for (int c : flagged_clients(scores)) detected_all.push_back(c + 100 * seed);
    for (int c = 10; c < 13; ++c) malicious_all.push_back(c + 100 * seed);
  }
  auto q = detection_quality(detected_all, malicious_all);
  ASSERT_TRUE(q.precision && q.recall);
  EXPECT_GE(*q.precision, 0.9) << "false positives: " << q.false_positives;
  EXPECT_GE(*q.recall, 0.9) << "missed: " << q.false_negatives;
}

TEST(FlDetection, ScoresSayWhy) {
  auto u = round_updates(10, {UpdateAttack::kZero, UpdateAttack::kSignFlip}, 3);
  auto s = score_updates(u, ids(12), DetectionOptions{});
  EXPECT_EQ(s[10].norm, 0.0);
  EXPECT_NE(s[10].reason.find("norm"), std::string::npos) << s[10].reason;
  EXPECT_LT(s[11].cosine_to_reference, 0.0);
  EXPECT_NE(s[11].reason.find("cosine"), std::string::npos) << s[11].reason;
  EXPECT_GT(s[0].cosine_to_reference, 0.5);
}

TEST(FlDetection, BenignOnlyFlagsAlmostNothing) {
  int flagged = 0, total = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    auto u = round_updates(10, {}, seed);
    flagged += flagged_clients(score_updates(u, ids(10), DetectionOptions{})).size();
    total += 10;
  }
  EXPECT_LE(flagged, 2) << "of " << total;
}

TEST(FlDetection, QualityCounts) {
  auto q = detection_quality({1, 2, 5}, {1, 2, 3, 4});
  EXPECT_EQ(q.true_positives, 2);
  EXPECT_EQ(q.false_positives, 1);
  EXPECT_EQ(q.false_negatives, 2);
  EXPECT_NEAR(*q.precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(*q.recall, 0.5, 1e-12);
  auto none = detection_quality({}, {});
  EXPECT_FALSE(none.precision.has_value());
  EXPECT_FALSE(none.recall.has_value());
}
