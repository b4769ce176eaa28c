// `tdml bench scaling` end to end at a tiny size: real 1- and 2-process jobs, the all-reduce
// benchmark feeding the projection, and the JSON schema the plotting helper reads.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace tdml::dist {
namespace {

TEST(BenchScaling, WritesMeasuredProjectedSimulatedAndAllreduce) {
  test::TempDir out, data;
  auto d = test::run_tdml("data synth --train 64 --test 16 --out " + data.path());
  ASSERT_EQ(d.exit_code, 0) << d.output;
  auto r = test::run_tdml("bench scaling --data " + data.path() +
                          " --model tinycnn --global-batch 8 --steps 2 --nprocs 1,2 --max-n 8 "
                          "--max-simulated 2 --allreduce-sizes 1K,64K --job-timeout 60 -q --out " +
                          out.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(out / "metrics.json");
  ASSERT_TRUE(f) << r.output;
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["kind"], "bench.scaling");
  EXPECT_EQ(j["backend"], "gloo");

  ASSERT_EQ(j["measured"].size(), 2u);
  EXPECT_EQ(j["measured"][1]["nproc"], 2);
  EXPECT_EQ(j["measured"][1]["per_rank_batch"], 4);
  for (const auto& m : j["measured"]) {
    // 2 steps a run; throughput is the global batch over the step time.
    EXPECT_NEAR(m["step_s"].get<double>() * 2, m["epoch_s"].get<double>(), 1e-9);
  }
  EXPECT_DOUBLE_EQ(j["measured"][0]["speedup"].get<double>(), 1.0);
  EXPECT_NEAR(j["measured"][1]["speedup"].get<double>(),
              j["measured"][0]["epoch_s"].get<double>() / j["measured"][1]["epoch_s"].get<double>(),
              1e-9);

  // The link comes from the measured all-reduce: bandwidth at the size nearest the gradient
  // (64K for TinyCNN's gradients), latency = the 1K all-reduce time.
  const auto& ar = j["allreduce"]["results"];
  ASSERT_EQ(ar.size(), 2u);
  const auto& link = j["link"];
  EXPECT_EQ(link["source"], "measured");
  EXPECT_EQ(link["message_bytes"], 64 << 10);
  EXPECT_DOUBLE_EQ(link["bandwidth_Bps"].get<double>(), ar[1]["busbw_gbs"].get<double>() * 1e9);
  EXPECT_DOUBLE_EQ(link["latency_s"].get<double>(), ar[0]["time_us"].get<double>() * 1e-6);

  // Projection: N = 1, 2, 4, 8 and the ring formula.
  const auto& p = j["projected"];
  ASSERT_EQ(p.size(), 4u);
  const double bytes = j["grad_bytes"], bw = link["bandwidth_Bps"], lat = link["latency_s"];
  // The gradient is the model's parameter bytes, as the measured ddp run recorded them.
  std::ifstream run(out / "runs/n1/metrics.json");
  ASSERT_TRUE(run);
  EXPECT_EQ(bytes, nlohmann::json::parse(run)["model"]["parameter_bytes"].get<double>());
  EXPECT_NEAR(p[3]["comm_s"].get<double>(), 2.0 * 7 / 8 * bytes / bw + lat, 1e-12);
  EXPECT_NEAR(p[3]["compute_s"].get<double>(), link["compute_s"].get<double>() / 8, 1e-12);

  // Simulation: measured compute at batch 8 and 4, plus the projected communication.
  const auto& s = j["simulated"];
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1]["per_worker_batch"], 4);
  EXPECT_NEAR(s[1]["comm_s"].get<double>(), p[1]["comm_s"].get<double>(), 1e-12);
  EXPECT_NEAR(s[1]["step_s"].get<double>(),
              s[1]["compute_s"].get<double>() + s[1]["comm_s"].get<double>(), 1e-12);
}

TEST(BenchScaling, GivenLinkNeedsNoAllreduceAndBadNprocsIsAUsageError) {
  auto bad = test::run_tdml("bench scaling --global-batch 8 --nprocs 3 --out /tmp/tdml-never");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--nprocs 3"), std::string::npos) << bad.output;
  auto none = test::run_tdml("bench scaling --allreduce-sizes none --out /tmp/tdml-never");
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("--bandwidth-gbs"), std::string::npos) << none.output;
}

}  // namespace
}  // namespace tdml::dist
