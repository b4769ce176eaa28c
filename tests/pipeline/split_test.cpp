#include "tdml/pipeline/split.h"

#include <gtest/gtest.h>

#include "tdml/util/error.h"

using namespace tdml;
using namespace tdml::pipeline;

namespace {

std::shared_ptr<models::Model> seeded(const std::string& name) {
  torch::manual_seed(7);
  return models::make_model(name);
}

torch::Tensor run_stages(const std::vector<Stage>& stages, torch::Tensor x) {
  for (const auto& s : stages) x = s.forward(x);
  return x;
}

}  // namespace

TEST(PipelineSplit, BalancedCutsMinimiseTheLargestPart) {
  EXPECT_EQ(balanced_cuts({1, 1, 1, 1}, 2), (std::vector<int>{0, 2}));
  EXPECT_EQ(balanced_cuts({5, 1, 1, 1, 1, 1}, 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(balanced_cuts({1, 2, 3, 4, 5}, 3), (std::vector<int>{0, 3, 4}));  // 6 | 4 | 5
  EXPECT_EQ(balanced_cuts({3, 3, 3}, 3), (std::vector<int>{0, 1, 2}));
  EXPECT_THROW(balanced_cuts({1, 2}, 3), tdml::Error);
}

TEST(PipelineSplit, StudySplitIsFeaturesThenClassifier) {
  auto model = seeded("smallcifarcnn");
  auto stages = split_model(*model, 2);  // auto = study for smallcifarcnn in 2 stages
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0].blocks().size(), 8u);
  EXPECT_EQ(stages[0].blocks().front().name, "features.0-2");
  EXPECT_EQ(stages[1].blocks().size(), 1u);
  EXPECT_EQ(stages[1].blocks().front().name, "head");
  EXPECT_EQ(stages[1].parameter_count(), 128 * 10 + 10);
  auto info = describe_split(stages, *model);
  EXPECT_EQ(info[0].output_shape, (std::vector<std::int64_t>{128, 8, 8}));
  EXPECT_EQ(info[1].output_shape, (std::vector<std::int64_t>{10}));
  EXPECT_EQ(info[0].parameters + info[1].parameters, models::parameter_count(*model));
  EXPECT_NE(format_split(info).find("[128,8,8]"), std::string::npos) << format_split(info);
}

TEST(PipelineSplit, StudySplitRefusesOtherModelsAndStageCounts) {
  auto resnet = seeded("tinycnn");
  SplitOptions o;
  o.method = SplitMethod::kStudy;
  EXPECT_THROW(split_model(*resnet, 2, o), tdml::UsageError);
  auto cnn = seeded("smallcifarcnn");
  EXPECT_THROW(split_model(*cnn, 3, o), tdml::UsageError);
  EXPECT_THROW(split_model(*cnn, 10, {}), tdml::UsageError);  // 9 blocks
  EXPECT_THROW(split_model(*cnn, 0, {}), tdml::UsageError);
}

TEST(PipelineSplit, ResNet50In248StagesAtBlockBoundariesComposesToTheModel) {
  auto model = seeded("resnet50");
  model->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 32, 32});
  auto want = model->forward(x);
  const auto blocks = model->blocks().size();  // stem, 16 bottlenecks, head
  ASSERT_EQ(blocks, 18u);
  for (int S : {2, 4, 8}) {
    SplitOptions o;
    o.method = SplitMethod::kParams;
    auto stages = split_model(*model, S, o);
    ASSERT_EQ(stages.size(), static_cast<std::size_t>(S));
    std::size_t covered = 0;
    std::int64_t params = 0, largest = 0;
    for (const auto& s : stages) {
      EXPECT_FALSE(s.blocks().empty());
      covered += s.blocks().size();
      params += s.parameter_count();
      largest = std::max(largest, s.parameter_count());
    }
    EXPECT_EQ(covered, blocks);
    EXPECT_EQ(params, models::parameter_count(*model));
    // Balanced: no stage holds much more than its share plus one block (layer4 blocks are big).
    EXPECT_LT(largest, models::parameter_count(*model) / S + 4500000) << S;
    EXPECT_TRUE(torch::equal(run_stages(stages, x), want)) << S << " stages";
  }
}

TEST(PipelineSplit, TimeSplitMeasuresEveryBlockAndCutsAtBlocks) {
  auto model = seeded("tinycnn");
  auto times = measure_block_times(*model, 4, 1);
  ASSERT_EQ(times.size(), model->blocks().size());
  for (double t : times) EXPECT_GT(t, 0.0);
  SplitOptions o;
  o.method = SplitMethod::kTime;
  o.time_batch = 4;
  o.time_repeats = 1;
  auto stages = split_model(*model, 3, o);
  ASSERT_EQ(stages.size(), 3u);
  auto cuts = cuts_of(stages);
  auto again = split_at(*model, cuts);
  EXPECT_EQ(cuts_of(again), cuts);
  model->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(run_stages(stages, x), model->forward(x)));
}
