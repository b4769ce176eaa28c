// `tdml train --mode pipeline` end to end: the split description, single-device runs, and the
// real multi-process path through the launcher (one stage per process, Gloo).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/dist/cpu_binding.h"

using tdml::test::run_tdml;
using tdml::test::run_tdml_with_faults;

namespace {

nlohmann::json read_pipeline_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

const char* kSmallRun =
    "--data synthetic --epochs 1 --batch-size 16 --limit-train-batches 3 "
    "--limit-test-batches 1 --threads 1 -q ";

}  // namespace

TEST(PipelineCli, DescribePrintsBlocksParametersAndActivationAtEachCut) {
  auto r = run_tdml("train --mode pipeline --describe --model smallcifarcnn --stages 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("split auto"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("features.0-2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[128,8,8]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1290"), std::string::npos) << r.output;  // classifier 128*10+10
  auto resnet = run_tdml("train --mode pipeline --describe --model resnet50 --stages 8");
  ASSERT_EQ(resnet.exit_code, 0) << resnet.output;
  EXPECT_NE(resnet.output.find("layer4.2"), std::string::npos) << resnet.output;
  EXPECT_NE(resnet.output.find("\n    7 "), std::string::npos) << resnet.output;
}

TEST(PipelineCli, BadPipelineOptionsExit2) {
  struct Case {
    const char* args;
    const char* message;
  } cases[] = {
      {"train --mode pipeline --describe --model resnet50 --stages 19", "1 to 18 stages"},
      {"train --mode pipeline --describe --model resnet50 --split study", "--split study"},
      {"train --mode pipeline --pipeline-schedule zb",
       "pipeline schedule zb: expected gpipe or 1f1b"},
      {"train --mode pipeline --stages 2 --nproc 3", "--nproc must equal --stages"},
      {"train --mode tensor", "expected single, ddp or pipeline"},
      // --schedule is the learning-rate schedule only (no pipeline alias).
      {"train --mode pipeline --schedule 1f1b", "--schedule 1f1b: expected constant"},
      // A flag of another mode is refused, naming the mode it belongs to.
      {"train --mode single --stages 4", "--stages applies to --mode pipeline, not single"},
      {"train --mode ddp --micro-batches 2", "--micro-batches applies to --mode pipeline"},
      {"train --mode pipeline --bucket-cap-mb 4", "--bucket-cap-mb applies to --mode ddp"},
      {"train --nproc 2", "--nproc applies to distributed runs, not --mode single"},
      {"train --mode pipeline --stages 2 --nproc 2 --resume", "add --save-every N"},
      {"train --mode pipeline --stages 2 --nproc 2 --save-every 5 --split time",
       "needs a fixed split"},
      {"train --resume=sometimes", "--resume sometimes: expected"},
      {"train --resume sometimes", "unexpected argument 'sometimes'"},
      {"train --epochs 2 auto", "unexpected argument 'auto'"},
      {"train --save-every -1", "--save-every must be >= 0"},
      {"train --mode ddp --nproc 2 --max-restarts -1", "--max-restarts must be >= 0"},
      {"train --mode ddp --nproc 2 --nnodes 2 --master-port 29500 --max-restarts 1",
       "use torchrun --max-restarts"},
  };
  for (const auto& c : cases) {
    auto r = run_tdml(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

TEST(PipelineCli, SingleDeviceRunWritesTheTrainSchemaPlusPipeline) {
  tdml::test::TempDir dir;
  auto r = run_tdml(
      "train --mode pipeline --model smallcifarcnn --stages 2 --micro-batches 4 "
      "--pipeline-schedule 1f1b " +
      std::string(kSmallRun) + "--out " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = read_pipeline_json(dir / "metrics.json");
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["run"]["mode"], "pipeline");
  EXPECT_EQ(j["config"]["schedule"]["name"], "constant");  // the learning-rate schedule
  EXPECT_EQ(j["pipeline"]["mode"], "single-device");
  EXPECT_EQ(j["pipeline"]["schedule"], "1f1b");
  EXPECT_EQ(j["pipeline"]["split"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["pipeline"]["theoretical_bubble"].get<double>(), 1.0 / 5.0);
  const auto& e = j["epochs"][0];
  EXPECT_EQ(e["train_samples"], 48);
  EXPECT_EQ(e["steps"], 3);
  EXPECT_TRUE(e["test_acc"].is_number());
  ASSERT_EQ(e["strategy"]["stages"].size(), 2u);
  EXPECT_EQ(e["strategy"]["stages"][0]["max_in_flight"], 2);
  EXPECT_EQ(e["strategy"]["stages"][1]["max_in_flight"], 1);
  EXPECT_EQ(e["strategy"]["stages"][0]["micro_batches"], 12);
}

TEST(PipelineCli, TwoProcessesOneStageEachTrainAndRankZeroWritesMetrics) {
  tdml::test::TempDir dir;
  // Whole test set (1000 synthetic images): the final accuracy is comparable with tdml eval's.
  auto r = run_tdml(
      "train --mode pipeline --model tinycnn --stages 2 --nproc 2 --micro-batches 4 "
      "--timeout 30 --save --data synthetic --epochs 1 --batch-size 16 "
      "--limit-train-batches 3 -q --out " +
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = read_pipeline_json(dir / "metrics.json");
  EXPECT_EQ(j["status"], "completed");
  // The stages run at once: each gets its share of the CPUs (--cpu-bind auto), and as many
  // intra-op threads as its share has cores, not all of the machine's.
  const auto cpus = tdml::dist::allowed_cpus().size();
  EXPECT_EQ(j["run"]["cpu_bind"]["mode"], "auto");
  ASSERT_EQ(j["run"]["cpu_bind"]["cpus_by_rank"].size(), 2u);
  EXPECT_LE(2 * j["run"]["threads"].get<std::size_t>(), std::max<std::size_t>(2, cpus));
  EXPECT_EQ(j["pipeline"]["mode"], "multi-process");
  EXPECT_EQ(j["pipeline"]["backend"], "gloo");
  EXPECT_EQ(j["run"]["world_size"], 2);
  const auto& e = j["epochs"][0];
  EXPECT_EQ(e["train_samples"], 48);  // counted once (by the last stage), not per rank
  EXPECT_EQ(e["steps"], 3);
  ASSERT_EQ(e["strategy"]["stages"].size(), 2u);
  EXPECT_EQ(e["strategy"]["stages"][1]["micro_batches"], 12);
  EXPECT_TRUE(e["strategy"]["measured_bubble"].is_number());
  // The checkpoint is the whole model (stage 1's weights gathered to rank 0).
  auto ev = run_tdml("eval --checkpoint " + dir / "checkpoint.pt" +
                     " --data synthetic --json -q --threads 1");
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  EXPECT_NEAR(nlohmann::json::parse(ev.output)["accuracy"].get<double>(),
              j["final"]["accuracy"].get<double>(), 1e-9);
}

TEST(PipelineCli, AKilledStageEndsTheRunWithAnErrorOnEveryRank) {
  tdml::test::TempDir dir;
  ::setenv("TDML_TEST_DIE_RANK", "1", 1);
  ::setenv("TDML_TEST_DIE_AFTER_STEPS", "1", 1);
  auto r = run_tdml_with_faults(
      "train --mode pipeline --model tinycnn --stages 2 --nproc 2 "
      "--timeout 30 " +
      std::string(kSmallRun) + "--out " + dir.path());
  ::unsetenv("TDML_TEST_DIE_RANK");
  ::unsetenv("TDML_TEST_DIE_AFTER_STEPS");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("killed by signal 9"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[rank 0] tdml: error: pipeline stage 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lost connection to rank 1"), std::string::npos) << r.output;
  auto j = read_pipeline_json(dir / "metrics.json");
  EXPECT_EQ(j["status"], "failed");
}

// #19: a stage killed between step checkpoints; tdml's launcher restarts both stages, each
// resumes its own part (weights, optimizer) of the newest step checkpoint, and the run ends with
// the bytes of the uninterrupted run.
TEST(PipelineCli, AKilledStageIsRestartedAndTheRunEndsBitIdentical) {
  tdml::test::TempDir straight, restarted;
  const std::string run =
      "train --mode pipeline --model tinycnn --stages 2 --nproc 2 --micro-batches 2 "
      "--timeout 30 --save --data synthetic --epochs 2 --batch-size 16 --limit-train-batches 6 "
      "--limit-test-batches 1 --augment=false --save-every 4 -q --out ";
  auto a = run_tdml(run + straight.path());
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ::setenv("TDML_TEST_DIE_RANK", "1", 1);
  ::setenv("TDML_TEST_DIE_AFTER_STEPS", "7", 1);  // steps 1-7 done, checkpoint at 4
  auto b = run_tdml_with_faults(run + restarted.path() + " --max-restarts 1 --resume auto");
  ::unsetenv("TDML_TEST_DIE_RANK");
  ::unsetenv("TDML_TEST_DIE_AFTER_STEPS");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("restarting the workers (restart 1 of 1)"), std::string::npos)
      << b.output;
  std::ifstream fa(straight / "checkpoint.pt", std::ios::binary);
  std::ifstream fb(restarted / "checkpoint.pt", std::ios::binary);
  const std::string ba((std::istreambuf_iterator<char>(fa)), {});
  const std::string bb((std::istreambuf_iterator<char>(fb)), {});
  EXPECT_FALSE(ba.empty());
  EXPECT_TRUE(ba == bb) << "the restarted pipeline ended with other weights";
  auto j = read_pipeline_json(restarted / "metrics.json");
  ASSERT_EQ(j["resumes"].size(), 1u);
  EXPECT_EQ(j["resumes"][0]["global_step"], 4);
  EXPECT_EQ(j["resumes"][0]["restart_count"], 1);
  EXPECT_EQ(j["pipeline"]["split"].size(), 2u);
  EXPECT_EQ(read_pipeline_json(straight / "metrics.json")["epochs"][1]["train_loss"],
            j["epochs"][1]["train_loss"]);
}
