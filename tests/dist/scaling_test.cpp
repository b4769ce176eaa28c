#include "tdml/dist/scaling.h"

#include <gtest/gtest.h>

#include "tdml/util/error.h"

namespace tdml::dist {
namespace {

TEST(Scaling, RingAllReduceProjectionMatchesHandComputedValues) {
  // 10 ms compute, 25 MB of gradients at 25 GB/s (1 ms one way), 0.05 ms latency.
  ScalingModel m{10e-3, 25e6, 25e9, 0.05e-3};
  auto pts = project_scaling_series(m, 8);
  ASSERT_EQ(pts.size(), 4u);
  EXPECT_EQ(pts[3].n, 8);
  // N=1: 10 + 0 + 0.05 ms.
  EXPECT_NEAR(pts[0].step_s, 10.05e-3, 1e-12);
  EXPECT_NEAR(pts[0].comm_fraction, 0.05 / 10.05, 1e-12);
  EXPECT_DOUBLE_EQ(pts[0].speedup, 1.0);
  // N=2: 5 + 2*(1/2)*1 + 0.05 = 6.05 ms.
  EXPECT_NEAR(pts[1].step_s, 6.05e-3, 1e-12);
  EXPECT_NEAR(pts[1].comm_s, 1.05e-3, 1e-12);
  EXPECT_NEAR(pts[1].speedup, 10.05 / 6.05, 1e-12);
  EXPECT_NEAR(pts[1].efficiency, 10.05 / 6.05 / 2, 1e-12);
  // N=8: 1.25 + 2*(7/8)*1 + 0.05 = 3.05 ms.
  EXPECT_NEAR(pts[3].step_s, 3.05e-3, 1e-12);
  EXPECT_NEAR(pts[3].comm_fraction, 1.80 / 3.05, 1e-12);
}

TEST(Scaling, StudySettingsGiveASmallGrowingCommunicationShare) {
  // The study's link (25 GB/s, 0.05 ms) with a compute-bound step: the share grows with N.
  ScalingModel m{9.95e-3, 0.26e6, 25e9, 0.05e-3};
  auto pts = project_scaling_series(m, 8);
  EXPECT_NEAR(pts[0].comm_fraction, 0.005, 1e-4);
  for (std::size_t i = 1; i < pts.size(); ++i) {
    EXPECT_GT(pts[i].comm_fraction, pts[i - 1].comm_fraction);
    EXPECT_LT(pts[i].efficiency, 1.0);
  }
  EXPECT_THROW(project_scaling(m, 0), Error);
  m.bandwidth_Bps = 0;
  EXPECT_THROW(project_scaling(m, 2), Error);
}

}  // namespace
}  // namespace tdml::dist
