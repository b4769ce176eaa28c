#include "tdml/pipeline/schedule.h"

#include <gtest/gtest.h>

#include <set>

#include "tdml/util/error.h"

using namespace tdml::pipeline;
using Op = Action::Op;

TEST(PipelineSchedule, EveryMicroBatchRunsOnceForwardThenBackward) {
  for (auto kind : {ScheduleKind::kGPipe, ScheduleKind::kOneFOneB}) {
    for (int S : {1, 2, 4}) {
      for (int M : {1, 3, 8}) {
        for (int s = 0; s < S; ++s) {
          auto acts = stage_actions(kind, s, S, M);
          ASSERT_EQ(acts.size(), 2u * M);
          std::set<int> forwarded, backwarded;
          for (const auto& a : acts) {
            if (a.op == Op::kForward) {
              EXPECT_TRUE(forwarded.insert(a.micro).second);
            } else {
              EXPECT_TRUE(forwarded.count(a.micro)) << "backward before forward";
              EXPECT_TRUE(backwarded.insert(a.micro).second);
            }
          }
          EXPECT_EQ(backwarded.size(), static_cast<std::size_t>(M));
        }
      }
    }
  }
}

TEST(PipelineSchedule, GPipeHoldsAllMicroBatchesOneFOneBAtMostS) {
  const int S = 4, M = 12;
  for (int s = 0; s < S; ++s) {
    EXPECT_EQ(max_in_flight(stage_actions(ScheduleKind::kGPipe, s, S, M)), M);
    EXPECT_EQ(max_in_flight(stage_actions(ScheduleKind::kOneFOneB, s, S, M)), S - s);
  }
  // Fewer micro-batches than stages: warm-up is cut short.
  EXPECT_EQ(max_in_flight(stage_actions(ScheduleKind::kOneFOneB, 0, 4, 2)), 2);
}

TEST(PipelineSchedule, OneFOneBShapeOnTheFirstOfTwoStages) {
  auto a = stage_actions(ScheduleKind::kOneFOneB, 0, 2, 3);
  std::vector<Action> want{{Op::kForward, 0}, {Op::kForward, 1},  {Op::kBackward, 0},
                           {Op::kForward, 2}, {Op::kBackward, 1}, {Op::kBackward, 2}};
  EXPECT_EQ(a, want);
  auto last = stage_actions(ScheduleKind::kOneFOneB, 1, 2, 3);
  std::vector<Action> want_last{{Op::kForward, 0},  {Op::kBackward, 0}, {Op::kForward, 1},
                                {Op::kBackward, 1}, {Op::kForward, 2},  {Op::kBackward, 2}};
  EXPECT_EQ(last, want_last);
}

TEST(PipelineSchedule, TheoreticalBubble) {
  EXPECT_DOUBLE_EQ(theoretical_bubble(2, 8), 1.0 / 9.0);
  EXPECT_DOUBLE_EQ(theoretical_bubble(4, 4), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(theoretical_bubble(1, 4), 0.0);
}

TEST(PipelineSchedule, NamesParseAndBadNameIsAUsageError) {
  EXPECT_EQ(parse_schedule("1f1b"), ScheduleKind::kOneFOneB);
  EXPECT_EQ(schedule_name(parse_schedule("gpipe")), "gpipe");
  EXPECT_THROW(parse_schedule("zb-h1"), tdml::UsageError);
}
