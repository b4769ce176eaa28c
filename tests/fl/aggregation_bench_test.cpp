// `tdml bench aggregate` (aggregation_bench.h) at tiny sizes, its growth fit on hand-made
// timings, and the NumPy reference (scripts/bench/aggregate_ref.py) against tdml's rules.
#include "tdml/fl/aggregation_bench.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "tdml/models/model.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

AggregationBenchOptions tiny_bench(std::vector<int> clients, std::vector<std::string> rules) {
  AggregationBenchOptions o;
  o.clients = std::move(clients);
  o.models = {"tinycnn"};
  o.rules = std::move(rules);
  o.repeats = 1;
  o.threads = 1;
  return o;
}

const AggregationCell& find_agg_cell(const std::vector<AggregationCell>& cells,
                                     const std::string& rule, int n) {
  for (const auto& c : cells) {
    if (c.rule == rule && c.n == n) return c;
  }
  throw Error("no cell " + rule + " n=" + std::to_string(n));
}

std::string aggregate_ref_script() {
  return (std::filesystem::path(__FILE__).parent_path() / "../../scripts/bench/aggregate_ref.py")
      .lexically_normal()
      .string();
}

bool have_numpy_python() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

// Runs a command and returns its stdout; exit status in *status.
std::string agg_capture(const std::string& cmd, int* status) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw Error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  for (std::size_t k; (k = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, k);
  *status = ::pclose(p);
  return out;
}

TEST(BenchAggregate, SmallRunIsWellFormed) {
  const auto cells = run_aggregation_bench(tiny_bench({5, 9}, {"median", "krum"}));
  ASSERT_EQ(cells.size(), 4u);
  const auto d = models::parameter_count(*models::make_model("tinycnn"));
  for (const auto& c : cells) {
    EXPECT_TRUE(c.measured()) << c.rule << " n=" << c.n << ": " << c.skipped;
    EXPECT_EQ(c.d, d);
    ASSERT_EQ(c.times_ms.size(), 1u);
    EXPECT_GT(c.median_ms, 0);
    EXPECT_DOUBLE_EQ(c.median_ms, c.min_ms);
    EXPECT_EQ(c.estimated_bytes, 4 * c.n * d + aggregation_extra_bytes(c.rule, c.n, d));
  }
  // Models outer, n, then rules in the order asked; f only for the Krum family.
  EXPECT_EQ(cells[0].rule, "median");
  EXPECT_EQ(cells[1].rule, "krum");
  EXPECT_EQ(cells[2].n, 9);
  EXPECT_EQ(find_agg_cell(cells, "median", 9).f, -1);
  EXPECT_EQ(find_agg_cell(cells, "krum", 5).f, 0);
  EXPECT_EQ(find_agg_cell(cells, "krum", 9).f, 1);

  const auto j = cell_json(find_agg_cell(cells, "krum", 9));
  EXPECT_EQ(j["status"], "measured");
  EXPECT_NEAR(j["ms_per_client"].get<double>(), j["median_ms"].get<double>() / 9, 1e-12);
  EXPECT_NEAR(j["ms_per_mcoord"].get<double>(), j["median_ms"].get<double>() / (9e-6 * d), 1e-9);
  const auto g = growth_json(cells);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0]["rule"], "median");
  EXPECT_EQ(g[0]["points"], 2);
  EXPECT_FALSE(g[0]["exponent"].is_null());
  ASSERT_EQ(g[0]["steps"].size(), 1u);
  EXPECT_DOUBLE_EQ(g[0]["steps"][0]["n_ratio"].get<double>(), 9.0 / 5);
}

TEST(BenchAggregate, SkipsCellsOverMaxGibAndRefusedOnes) {
  const auto d = models::parameter_count(*models::make_model("tinycnn"));
  const double at5 = 4.0 * 5 * d + aggregation_extra_bytes("median", 5, d);
  const double at9 = 4.0 * 9 * d + aggregation_extra_bytes("median", 9, d);
  auto o = tiny_bench({4, 5, 9}, {"median", "trimmed-mean"});
  o.max_gib = (at5 + at9) / 2 / (1024.0 * 1024 * 1024);  // median fits at n = 5, not at n = 9
  std::vector<std::string> seen;
  AggregationBenchHooks hooks;
  hooks.finished = [&](const AggregationCell& c, int index, int total) {
    EXPECT_EQ(total, 6);
    EXPECT_EQ(index, static_cast<int>(seen.size()));
    seen.push_back(c.rule);
  };
  const auto cells = run_aggregation_bench(o, hooks);
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_TRUE(find_agg_cell(cells, "median", 5).measured());
  const auto& big = find_agg_cell(cells, "median", 9);
  EXPECT_FALSE(big.measured());
  EXPECT_NE(big.skipped.find("--max-gib"), std::string::npos) << big.skipped;
  EXPECT_TRUE(big.times_ms.empty());
  // trim 0.2 of 4 updates removes nothing: the rule's own check refuses it.
  const auto& refused = find_agg_cell(cells, "trimmed-mean", 4);
  EXPECT_NE(refused.skipped.find("refuses n = 4"), std::string::npos) << refused.skipped;
  const auto j = cell_json(big);
  EXPECT_EQ(j["status"], "skipped");
  EXPECT_EQ(j["reason"], big.skipped);
  EXPECT_FALSE(j.contains("median_ms"));
}

TEST(BenchAggregate, GrowthExponentOnHandMadeTimes) {
  // t = n^2 exactly: slope 2, ratios 100.
  auto g = fit_growth({10, 100, 1000}, {1, 100, 10000});
  ASSERT_TRUE(g.exponent.has_value());
  EXPECT_NEAR(*g.exponent, 2.0, 1e-12);
  ASSERT_EQ(g.steps.size(), 2u);
  EXPECT_EQ(g.steps[1].from_n, 100);
  EXPECT_EQ(g.steps[1].to_n, 1000);
  EXPECT_NEAR(g.steps[1].time_ratio, 100.0, 1e-9);
  // Not on a line: log2 points (0,0), (1,2), (2,3) -> least-squares slope 3/2; input order free.
  g = fit_growth({4, 1, 2}, {8, 1, 4});
  EXPECT_NEAR(*g.exponent, 1.5, 1e-12);
  EXPECT_EQ(g.steps[0].from_n, 1);
  EXPECT_NEAR(g.steps[0].time_ratio, 4.0, 1e-12);
  // One point, or one n twice: no exponent; non-positive times are left out.
  EXPECT_FALSE(fit_growth({10}, {3}).exponent.has_value());
  EXPECT_FALSE(fit_growth({10, 10}, {3, 4}).exponent.has_value());
  g = fit_growth({10, 100, 1000}, {2, 0, 200});
  EXPECT_EQ(g.points, 2);
  EXPECT_NEAR(*g.exponent, 1.0, 1e-12);
  EXPECT_THROW(fit_growth({1, 2}, {1}), Error);

  // growth_json uses the measured cells only.
  std::vector<AggregationCell> cells(3);
  for (int i = 0; i < 3; ++i) {
    cells[i].rule = "mean";
    cells[i].model = "m";
    cells[i].n = i == 0 ? 10 : i == 1 ? 100 : 1000;
    cells[i].median_ms = i == 0 ? 1 : 31.6227766;
  }
  cells[2].skipped = "too big";
  const auto j = growth_json(cells);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["points"], 2);
  EXPECT_NEAR(j[0]["exponent"].get<double>(), 1.5, 1e-6);
  EXPECT_NEAR(j[0]["steps"][0]["n_ratio"].get<double>(), 10.0, 1e-12);
}

TEST(BenchAggregate, ByzantineCountKeepsBulyanValid) {
  for (int n = 1; n <= 1000; ++n) {
    const int f = bench_byzantine(n);
    EXPECT_GE(f, 0);
    if (n >= 3) {
      EXPECT_GE(n, 4 * f + 3) << n;
      EXPECT_LT(n, 4 * (f + 1) + 3) << n;  // the largest such f
    }
  }
  EXPECT_EQ(bench_rule_options("multi-krum", 100).f, 24);
  EXPECT_THROW(aggregation_extra_bytes("nope", 3, 3), UsageError);
  auto o = tiny_bench({5}, {"nope"});
  EXPECT_THROW(run_aggregation_bench(o), UsageError);
  o = tiny_bench({0}, {"mean"});
  EXPECT_THROW(run_aggregation_bench(o), UsageError);
}

TEST(BenchAggregate, CliWritesMetricsJson) {
  test::TempDir out;
  auto r = test::run_tdml(
      "bench aggregate --clients 5,9 --model tinycnn --rules mean,bulyan "
      "--repeats 2 --threads 1 -q --out " +
      out.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("f = max(0, (n - 3) / 4)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("growth"), std::string::npos) << r.output;
  std::ifstream f(out / "metrics.json");
  ASSERT_TRUE(f);
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["kind"], "bench.aggregate");
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["settings"]["threads"], 1);
  ASSERT_EQ(j["models"].size(), 1u);
  std::int64_t total = 0;
  for (const auto& l : j["models"][0]["layers"]) {
    std::int64_t k = 1;
    for (auto s : l["shape"]) k *= s.get<std::int64_t>();
    total += k;
  }
  EXPECT_EQ(total, j["models"][0]["d"].get<std::int64_t>());
  ASSERT_EQ(j["cells"].size(), 4u);
  for (const auto& c : j["cells"]) {
    EXPECT_EQ(c["status"], "measured") << c.dump();
    EXPECT_EQ(c["times_ms"].size(), 2u);
  }
  EXPECT_EQ(j["growth"].size(), 2u);
  auto bad =
      test::run_tdml("bench aggregate --rules mean,nope --model tinycnn --out " + (out / "bad"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("unknown aggregator 'nope'"), std::string::npos) << bad.output;
}

// The NumPy reference computes the same aggregates as tdml's rules on a small fixed input
// (odd n, so that numpy's median, which averages the middle two, is tdml's lower middle).
TEST(BenchAggregate, NumpyReferenceAgreesWithTdmlRules) {
  TDML_REQUIRE(have_numpy_python(), "/usr/bin/python3 with numpy");
  test::TempDir dir;
  const int n = 9;
  auto gen = at::detail::createCPUGenerator(5);
  auto updates = at::normal(0.0, 1.0, {n, 10}, gen, torch::kFloat32);
  auto weights = torch::tensor({1.f, 2.f, 3.f, 1.f, 2.f, 3.f, 1.f, 2.f, 3.f});
  nlohmann::json in = {{"shapes", {{3, 2}, {4}}}, {"weights", {1, 2, 3, 1, 2, 3, 1, 2, 3}}};
  in["updates"] = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    auto row = updates[i].contiguous();
    in["updates"].push_back(std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + 10));
  }
  std::ofstream(dir / "in.json") << in.dump();
  int status = -1;
  const auto text = agg_capture(
      "/usr/bin/python3 '" + aggregate_ref_script() + "' --check '" + (dir / "in.json") + "'",
      &status);
  ASSERT_EQ(status, 0) << text;
  const auto ref = nlohmann::json::parse(text);
  for (const std::string rule :
       {"mean", "median", "trimmed-mean", "krum", "multi-krum", "bulyan"}) {
    ASSERT_TRUE(ref.contains(rule)) << rule;
    const auto ours = make_aggregator(bench_rule_options(rule, n))
                          ->aggregate(updates, rule == "mean" ? weights : torch::ones({n}))
                          .update;
    const auto theirs = torch::tensor(ref[rule].get<std::vector<double>>()).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(ours, theirs, 1e-5, 1e-5))
        << rule << ": tdml " << ours << " numpy " << theirs;
  }
}

// The reference's own benchmark loop on tdml's layout: measured cells, the rules it lacks
// named, and a cell skipped when its time estimate exceeds --max-seconds.
TEST(BenchAggregate, NumpyReferenceSkipsCellsOverMaxSeconds) {
  TDML_REQUIRE(have_numpy_python(), "/usr/bin/python3 with numpy");
  test::TempDir out;
  auto r = test::run_tdml(
      "bench aggregate --clients 5 --model tinycnn --rules mean --repeats 1 "
      "--threads 1 -q --out " +
      (out / "tdml"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int status = -1;
  const auto text = agg_capture("/usr/bin/python3 '" + aggregate_ref_script() + "' --shapes '" +
                                    (out / "tdml/metrics.json") +
                                    "' --clients 5,50 --rules krum,geomed --repeats 1 "
                                    "--max-seconds 0.000001 --out '" +
                                    (out / "numpy") + "' 2>&1",
                                &status);
  ASSERT_EQ(status, 0) << text;
  EXPECT_NE(text.find("geomed: not in the reference"), std::string::npos) << text;
  std::ifstream f(out / "numpy/metrics.json");
  ASSERT_TRUE(f) << text;
  const auto j = nlohmann::json::parse(f);
  ASSERT_EQ(j["cells"].size(), 2u) << j.dump();
  EXPECT_EQ(j["cells"][0]["status"], "measured");  // nothing to estimate the first from
  EXPECT_EQ(j["cells"][1]["status"], "skipped");
  EXPECT_NE(j["cells"][1]["reason"].get<std::string>().find("--max-seconds"), std::string::npos);
  EXPECT_TRUE(j["not_in_reference"].contains("geomed"));
}

}  // namespace
}  // namespace tdml::fl
