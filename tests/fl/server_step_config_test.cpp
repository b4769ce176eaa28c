// fl::server_step_config: what a resumed `fl server` must share with its saved run. Each setting
// the server's step depends on changes it; evaluation settings do not.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tdml/fl/options.h"

namespace tdml::fl {
namespace {

TEST(FlServerStepConfig, EverySettingOfTheServerStepChangesItAndEvaluationSettingsDoNot) {
  const RunnerOptions base;
  const auto before = server_step_config(base).dump();
  using Change = std::pair<std::string, std::function<void(RunnerOptions&)>>;
  const std::vector<Change> step = {
      {"rule", [](RunnerOptions& o) { o.server.aggregator.rule = "cclip"; }},
      {"median average", [](RunnerOptions& o) { o.server.aggregator.median_average_middle = true; }},
      {"trim", [](RunnerOptions& o) { o.server.aggregator.trim = 0.1; }},
      {"f", [](RunnerOptions& o) { o.server.aggregator.f = 2; }},
      {"multi-krum m", [](RunnerOptions& o) { o.server.aggregator.multi_krum_m = 3; }},
      {"geomed nu", [](RunnerOptions& o) { o.server.aggregator.geomed_nu = 1e-3; }},
      {"cclip tau", [](RunnerOptions& o) { o.server.aggregator.cclip_tau = 0.5; }},
      {"cclip iterations", [](RunnerOptions& o) { o.server.aggregator.cclip_iterations = 1; }},
      {"max norm", [](RunnerOptions& o) { o.server.clip_norm = 1.5; }},
      {"bucketing", [](RunnerOptions& o) { o.server.bucketing = 2; }},
      {"root samples", [](RunnerOptions& o) { o.server.root_samples = 100; }},
      {"detect", [](RunnerOptions& o) { o.server.detect = false; }},
      {"exclude flagged", [](RunnerOptions& o) { o.server.detection.exclude_flagged = true; }},
      {"detection k", [](RunnerOptions& o) { o.server.detection.k = 2; }},
      {"dp clip", [](RunnerOptions& o) { o.server.dp.clip = 1; }},
      {"server opt", [](RunnerOptions& o) { o.server_opt.name = "avgm"; }},
      {"server momentum", [](RunnerOptions& o) { o.server_opt.momentum = 0.5; }},
      {"adam beta2", [](RunnerOptions& o) { o.server_opt.beta2 = 0.999; }},
      {"server lr", [](RunnerOptions& o) { o.server_lr = 0.5; }},
  };
  for (const auto& [name, change] : step) {
    RunnerOptions o = base;
    change(o);
    EXPECT_NE(server_step_config(o).dump(), before) << name;
  }
  // Each DP setting, against DP with only a clip (not only DP against no DP).
  RunnerOptions dp_base = base;
  dp_base.server.dp.clip = 1;
  const auto with_dp = server_step_config(dp_base).dump();
  const std::vector<Change> dp = {
      {"dp noise", [](RunnerOptions& o) { o.server.dp.noise = 0.5; }},
      {"dp local", [](RunnerOptions& o) { o.server.dp.local = true; }},
      {"dp delta", [](RunnerOptions& o) { o.server.dp.delta = 1e-6; }},
      {"dp adaptive", [](RunnerOptions& o) { o.server.dp.adaptive = true; }},
  };
  for (const auto& [name, change] : dp) {
    RunnerOptions o = dp_base;
    change(o);
    EXPECT_NE(server_step_config(o).dump(), with_dp) << name;
  }

  const std::vector<Change> evaluation = {
      {"eval every", [](RunnerOptions& o) { o.eval_every = 5; }},
      {"limit test batches", [](RunnerOptions& o) { o.limit_test_batches = 2; }},
      {"eval batch size", [](RunnerOptions& o) { o.eval_batch_size = 100; }},
      {"eval trigger", [](RunnerOptions& o) { o.eval_trigger = true; }},
      {"out dir", [](RunnerOptions& o) { o.out_dir = "elsewhere"; }},
  };
  for (const auto& [name, change] : evaluation) {
    RunnerOptions o = base;
    change(o);
    EXPECT_EQ(server_step_config(o).dump(), before) << name;
  }
}

}  // namespace
}  // namespace tdml::fl
