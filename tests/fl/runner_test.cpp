// The federated run end to end on small synthetic data: determinism, the admit hook,
// metrics.json, and the CLI in one process and as a local federation of processes.
#include "tdml/fl/runner.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/data/synthetic.h"
#include "tdml/ledger/hash.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::fl {
namespace {

using test::run_tdml;
using test::TempDir;

struct SmallData {
  data::Dataset train = data::make_synthetic(240, data::Split::kTrain);
  data::Dataset test = data::make_synthetic(100, data::Split::kTest);
};

RunnerOptions small_options() {
  RunnerOptions o;
  o.model = "tinycnn";
  o.clients = 4;
  o.per_client = 40;
  o.rounds = 2;
  o.mode = "local";
  o.batch_size = 20;
  o.malicious = 1;
  o.attacks = "backdoor";
  o.server.aggregator.rule = "median";
  o.limit_test_batches = 1;
  o.eval_batch_size = 50;
  return o;
}

TEST(FlRunner, SameSeedGivesTheSameGlobalModelAndAnotherSeedAnother) {
  const int prev_threads = at::get_num_threads();
  at::set_num_threads(1);  // CPU kernels reduce in a thread-count dependent order
  SmallData d;
  const auto o = small_options();
  const auto first = run_federated(d.train, d.test, o);
  ASSERT_EQ(first.rounds.size(), 2u);
  ASSERT_EQ(first.final_model_hash.size(), 64u);
  const auto again = run_federated(d.train, d.test, o);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(again.rounds[r].model_hash, first.rounds[r].model_hash) << "round " << r + 1;
    EXPECT_DOUBLE_EQ(again.rounds[r].test_accuracy, first.rounds[r].test_accuracy);
  }
  EXPECT_NE(first.rounds[0].model_hash, first.rounds[1].model_hash);
  // The hash moves with the model: a different seed gives another one.
  auto other = o;
  other.seed = 7;
  EXPECT_NE(run_federated(d.train, d.test, other).final_model_hash, first.final_model_hash);
  at::set_num_threads(prev_threads);
}

TEST(FlRunner, AdmitHookRefusesAnUpdateBeforeAggregation) {
  SmallData d;
  auto o = small_options();
  o.rounds = 1;
  RunHooks hooks;
  hooks.client.attest = [](const RoundContext& ctx, const ClientUpdate& u) {
    return "signed:" + std::to_string(ctx.round) + ":" + std::to_string(u.client);
  };
  std::vector<std::string> seen;
  hooks.server.admit = [&](const RoundContext& ctx, const ClientUpdate& u) -> std::string {
    EXPECT_EQ(u.update.numel(), ctx.global_params.numel());
    EXPECT_EQ(u.samples, 40);
    seen.push_back(u.attestation);
    return u.client == 2 ? "bad signature" : "";
  };
  auto res = run_federated(d.train, d.test, o, "", hooks);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"signed:1:0", "signed:1:1", "signed:1:2", "signed:1:3"}));
  const auto& agg = res.rounds[0].aggregation;
  EXPECT_EQ(agg.aggregated, (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(res.rounds[0].clients[2].refused, "bad signature");
  EXPECT_TRUE(std::isnan(agg.norms[2]));
  EXPECT_FALSE(std::isnan(agg.norms[3]));
}

TEST(FlRunner, GradientModeMovesBatchNormBuffersOffTheirInit) {
  SmallData d;
  auto o = small_options();
  o.model = "smallcifarcnn";
  o.mode = "gradient";
  o.rounds = 1;
  o.clients = 3;
  o.per_client = 20;
  o.malicious = 0;
  TempDir dir;
  o.out_dir = dir.path();
  run_federated(d.train, d.test, o);
  auto doc = nlohmann::json::parse(util::read_file(dir.path() + "/metrics.json"));
  EXPECT_EQ(doc["status"], "completed");
  EXPECT_EQ(doc["kind"], "fl");
  ASSERT_EQ(doc["rounds"].size(), 1u);
  EXPECT_EQ(doc["rounds"][0]["clients"].size(), 3u);
  // A fresh BatchNorm has running_var = 1 everywhere; after the round the median of the clients'
  // statistics is in place, so the model hash differs from the init's and buffers moved.
  torch::manual_seed(o.seed);
  auto fresh = models::make_model(o.model, 10);
  auto trained = run_federated(d.train, d.test, [&] {
    auto p = o;
    p.out_dir.clear();
    p.server_lr = 0;  // parameters do not move: only the buffers can change the hash
    return p;
  }());
  EXPECT_NE(trained.final_model_hash,
            ledger::model_hash(ledger::floating_entries(models::state_dict(*fresh))));
}

TEST(FlRunner, ChannelsLastClientSendsTheSameUpdateAsContiguous) {
  // The fast path changes memory layout only: the update (a gradient, and a weight delta after
  // local SGD) matches the NCHW client's to float tolerance, and both differ from zero.
  SmallData d;
  for (const std::string mode : {"gradient", "local"}) {
    auto o = small_options();
    o.model = "smallcifarcnn";
    o.mode = mode;
    o.malicious = 0;
    auto cl = o;
    cl.channels_last = true;
    ClientPool plain(d.train, o), fast(d.train, cl);
    RoundContext ctx{1, plain.params().flatten(), plain.buffers().flatten(), ""};
    auto a = plain.run(1, ctx), b = fast.run(1, ctx);
    ASSERT_GT(a.update.abs().max().item<double>(), 0) << mode;
    // Summation order differs between the layouts (NHWC BatchNorm backward: ~0.5%, as in
    // PyTorch; see Models.ChannelsLastGivesTheSameGradientsAsContiguous): relative L2 error.
    auto rel = [](const torch::Tensor& x, const torch::Tensor& y) {
      return ((x - y).norm() / y.norm()).item<double>();
    };
    EXPECT_LT(rel(b.update, a.update), 2e-2) << mode;
    EXPECT_LT(rel(b.buffers, a.buffers), 1e-5) << mode;
  }
}

TEST(FlRunner, EvalTriggerReportsTheBaselineWithoutABackdoorClient) {
  SmallData d;
  auto o = small_options();
  o.rounds = 1;
  o.malicious = 0;
  const auto plain = run_federated(d.train, d.test, o).rounds[0];
  EXPECT_FALSE(plain.backdoor);
  o.eval_trigger = true;
  const auto r = run_federated(d.train, d.test, o).rounds[0];
  EXPECT_TRUE(r.backdoor);
  // The two rates count the same triggered images: asr_all * N = hits on non-target images
  // (asr_non_target * their count) + hits on target-class images (0 .. their count), whole.
  const std::int64_t n = o.eval_batch_size;  // one evaluation batch of the 100 test images
  const auto labels = d.test.labels.slice(0, 0, n);
  const double target_images = (labels == o.attack.target).sum().item<double>();
  const double hits_all = r.asr_all * static_cast<double>(n);
  const double hits_non_target = r.asr_non_target * (static_cast<double>(n) - target_images);
  EXPECT_NEAR(hits_all, std::round(hits_all), 1e-6);
  EXPECT_NEAR(hits_non_target, std::round(hits_non_target), 1e-6);
  EXPECT_GE(hits_all - hits_non_target, -1e-6);
  EXPECT_LE(hits_all - hits_non_target, target_images + 1e-6);
  // Measuring the trigger changes nothing else.
  EXPECT_EQ(r.model_hash, plain.model_hash);
  EXPECT_DOUBLE_EQ(r.test_accuracy, plain.test_accuracy);
}

TEST(FlRunner, EvalEveryEvaluatesEveryNthAndTheLastRoundOnly) {
  SmallData d;
  auto o = small_options();
  o.rounds = 3;
  const auto every = run_federated(d.train, d.test, o);
  o.eval_every = 2;
  const auto sparse = run_federated(d.train, d.test, o);
  ASSERT_EQ(sparse.rounds.size(), 3u);
  const bool expected[] = {false, true, true};  // round 2 (every 2nd) and round 3 (the last)
  for (int r = 0; r < 3; ++r) {
    const auto& rec = sparse.rounds[r];
    EXPECT_EQ(rec.evaluated, expected[r]) << "round " << r + 1;
    EXPECT_TRUE(every.rounds[r].evaluated);
    // Evaluation changes no model, and an evaluated round reports what --eval-every 1 does.
    EXPECT_EQ(rec.model_hash, every.rounds[r].model_hash);
    const auto j = rec.to_json();
    if (expected[r]) {
      EXPECT_DOUBLE_EQ(rec.test_accuracy, every.rounds[r].test_accuracy);
      EXPECT_DOUBLE_EQ(j.at("test_accuracy").get<double>(), rec.test_accuracy);
      EXPECT_TRUE(j.at("backdoor").is_object());
    } else {
      EXPECT_TRUE(j.at("test_accuracy").is_null());
      EXPECT_TRUE(j.at("test_loss").is_null());
      EXPECT_TRUE(j.at("backdoor").is_null());
      EXPECT_EQ(rec.eval_seconds, 0.0);
    }
  }
  o.eval_every = 0;
  EXPECT_THROW(o.validate(), UsageError);
}

TEST(FlCli, WritesMetricsAndALocalFederationMatchesInProcess) {
  TempDir dir;
  const std::string common =
      "fl --data synthetic --model tinycnn --clients 4 --per-client 40 --rounds 2 --local train "
      "--batch-size 20 --attack mean-shift --malicious 1 --aggregator median --limit-test-batches 1 --eval-batch-size 50 "
      "--threads 1 -q --out ";
  auto a = run_tdml(common + dir.path() + "/one");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  // A server and 4 client processes over gRPC with TLS on loopback, each with its own key.
  auto b = run_tdml(common + dir.path() + "/multi --nproc 5");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  auto one = nlohmann::json::parse(util::read_file(dir.path() + "/one/metrics.json"));
  auto multi = nlohmann::json::parse(util::read_file(dir.path() + "/multi/metrics.json"));
  EXPECT_EQ(one["status"], "completed");
  EXPECT_EQ(multi["status"], "completed");
  EXPECT_EQ(multi["config"]["processes"], 5);
  EXPECT_EQ(multi["config"]["transport"], "grpc-tls");
  EXPECT_EQ(multi["config"]["trust"], "simulation");
  ASSERT_EQ(one["rounds"].size(), 2u);
  EXPECT_EQ(one["final_model_hash"], multi["final_model_hash"]);
  const auto& r1 = one["rounds"][0];
  for (const char* key :
       {"test_accuracy", "samples_per_s", "clip_ratio", "aggregate_variance", "comm_bytes_up",
        "comm_bytes_down", "detection", "clients", "model_hash"}) {
    EXPECT_TRUE(r1.contains(key)) << key;
  }
  EXPECT_EQ(r1["clients"][0]["attack"], "mean-shift");
  // The bytes sent: each update message up (24-byte head + parameters and buffers as float32,
  // no ledger so no signature) and the state down to each client; the federation counts what
  // crossed the wire (the same payloads plus its framing and signatures).
  const std::int64_t state = one["model"]["parameters"].get<std::int64_t>() +
                             one["model"]["buffers"].get<std::int64_t>();
  const std::int64_t clients = one["config"]["clients"].get<std::int64_t>();
  EXPECT_EQ(r1["comm_bytes_up"].get<std::int64_t>(), clients * (24 + 4 * state));
  EXPECT_EQ(r1["comm_bytes_down"].get<std::int64_t>(), clients * 4 * state);
  EXPECT_EQ(r1["comm_counted"], "per_client");
  const auto& m1 = multi["rounds"][0];
  EXPECT_GT(m1["comm_bytes_up"].get<std::int64_t>(), clients * 4 * state);
  EXPECT_GT(m1["comm_bytes_down"].get<std::int64_t>(), clients * 4 * state);
  EXPECT_EQ(m1["comm_counted"], "wire");
  EXPECT_EQ(m1["sampled"], nlohmann::json({0, 1, 2, 3}));
  // Each party holds its own key; client 0 chose the attack itself.
  for (int k = 0; k < 4; ++k) {
    const auto id = "client-" + std::to_string(k);
    EXPECT_TRUE(std::filesystem::exists(dir.path() + "/multi/parties/" + id + "/" + id + ".key")) << id;
    auto cm = nlohmann::json::parse(util::read_file(dir.path() + "/multi/clients/" + id +
                                                    "/metrics.json"));
    EXPECT_EQ(cm["attack"], k == 0 ? "mean-shift" : "none") << id;
    EXPECT_EQ(cm["receipts"], 2) << id;
  }
  EXPECT_TRUE(util::read_file(dir.path() + "/one/fl.log").find("fl round 2/2") !=
              std::string::npos);
  // --nproc N runs N-1 clients; every party makes its own key.
  auto bad = run_tdml(common + dir.path() + "/bad --nproc 3");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("runs a server and 2 clients, but --clients is 4"), std::string::npos)
      << bad.output;
  bad = run_tdml(common + dir.path() + "/bad --nproc 5 --keys " + dir.path());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("every party makes its own Ed25519 key"), std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace tdml::fl
