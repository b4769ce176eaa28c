// The real multi-process path: `tdml bench allreduce --nproc 2` through the launcher.
#include "tdml/dist/launcher.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::dist {
namespace {

using test::run_tdml;
using test::run_tdml_with_faults;

// Two CPU ranks on one machine: Gloo (auto would pick NCCL on a GPU machine, one GPU per rank).
TEST(Launcher, TwoWorkerBenchWritesMetricsAndPrefixesOutput) {
  TDML_REQUIRE_GLOO();
  test::TempDir dir;
  auto r = run_tdml(
      "bench allreduce --backend gloo --nproc 2 --sizes small --iters 20 --warmup 2 --out " +
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[rank 0]"), std::string::npos) << r.output;
  std::ifstream f(dir / "metrics.json");
  ASSERT_TRUE(f) << r.output;
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["kind"], "bench.allreduce");
  EXPECT_EQ(j["world"], 2);
  EXPECT_EQ(j["cpu_bind"]["mode"], "auto");  // placed as training ranks are
  EXPECT_EQ(j["cpu_bind"]["cpus_by_rank"].size(), 2u);
  ASSERT_EQ(j["results"].size(), 4u);  // 1K, 4K, 16K, 64K
  EXPECT_EQ(j["results"][3]["bytes"], 64 << 10);
  for (const auto& s : j["results"]) {
    // algbw is the message size over the time of one all-reduce.
    EXPECT_NEAR(s["algbw_gbs"].get<double>(),
                s["bytes"].get<double>() / (s["time_us"].get<double>() * 1e-6) / 1e9,
                1e-9 * s["algbw_gbs"].get<double>());
    // nccl-tests: busbw = algbw * 2(n-1)/n = algbw for n = 2.
    EXPECT_DOUBLE_EQ(s["busbw_gbs"].get<double>(), s["algbw_gbs"].get<double>());
  }
}

TEST(Launcher, KilledWorkerMakesTheOthersFailNamingTheLostRank) {
  TDML_REQUIRE_GLOO();
  ::setenv("TDML_TEST_DIE_RANK", "1", 1);
  ::setenv("TDML_TEST_DIE_AFTER_STEPS", "30", 1);
  auto r = run_tdml_with_faults(
      "bench allreduce --backend gloo --nproc 2 --sizes small --iters 20 --warmup 1 "
      "--timeout 30");
  ::unsetenv("TDML_TEST_DIE_RANK");
  ::unsetenv("TDML_TEST_DIE_AFTER_STEPS");
  EXPECT_NE(r.exit_code, 0) << r.output;
  // The launcher names the rank that died and how.
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("killed by signal 9"), std::string::npos) << r.output;
  // Rank 0 noticed by itself (not killed by the launcher) and named its lost peer.
  EXPECT_NE(r.output.find("[rank 0] tdml: error: all_reduce"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lost connection to rank 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("then rank 0 exited with status 1"), std::string::npos) << r.output;
}

// The release binary carries no fault injection: the same variables that kill rank 1 of
// tdml-faults above change nothing.
TEST(Launcher, ReleaseBinaryIgnoresTheFaultInjectionVariables) {
  TDML_REQUIRE_GLOO();
  ::setenv("TDML_TEST_DIE_RANK", "1", 1);
  ::setenv("TDML_TEST_DIE_AFTER_STEPS", "0", 1);
  auto r = run_tdml(
      "bench allreduce --backend gloo --nproc 2 --sizes 4K --iters 5 --warmup 1 --timeout 30");
  ::unsetenv("TDML_TEST_DIE_RANK");
  ::unsetenv("TDML_TEST_DIE_AFTER_STEPS");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Launcher, PortInUseIsReportedByRankZero) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  auto r = run_tdml("bench allreduce --nproc 2 --sizes 4K --timeout 5 --master-port " +
                    std::to_string(port));
  ::close(fd);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("address already in use"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("distributed job failed: rank"), std::string::npos) << r.output;
}

TEST(Launcher, RejectsBadOptions) {
  LaunchOptions o;
  o.nproc = 0;
  EXPECT_THROW(launch_workers(o, {"x"}), Error);
  o.nproc = 2;
  o.nnodes = 2;
  EXPECT_THROW(launch_workers(o, {"x"}), Error);  // multi-node needs a port
  EXPECT_GT(pick_free_port(), 0);
}

// run_jobs (`tdml fl grid`'s cells): each job's output in its own file, a failed or killed job
// reported without ending the others, stdin empty.
TEST(Launcher, RunJobsReportsEachJobAndKeepsGoingPastFailures) {
  test::TempDir dir;
  const char* script = "echo out $0; echo err $0 >&2; cat; [ $0 = 3 ] && kill -9 $$; exit $1";
  std::vector<Job> jobs;
  for (int i = 0; i < 5; ++i) {
    jobs.push_back({"job" + std::to_string(i),
                    {"sh", "-c", script, std::to_string(i), i == 1 ? "7" : "0"},
                    dir / ("job" + std::to_string(i) + ".log"),
                    "/bin/sh"});
  }
  std::vector<JobEnd> ends(jobs.size());
  int calls = 0;
  run_jobs(jobs, 2, [&](const JobEnd& e) {
    ends.at(e.index) = e;
    ++calls;
  });
  ASSERT_EQ(calls, 5);
  for (int i = 0; i < 5; ++i) {
    const auto log = util::read_file(dir / ("job" + std::to_string(i) + ".log"));
    EXPECT_EQ(log, "out " + std::to_string(i) + "\nerr " + std::to_string(i) + "\n");
    EXPECT_EQ(ends[i].ok, i != 1 && i != 3) << i;
    EXPECT_GE(ends[i].seconds, 0.0);
  }
  EXPECT_EQ(ends[1].exit_code, 7);
  EXPECT_EQ(ends[1].how, "exited with status 7");
  EXPECT_EQ(ends[3].exit_code, -1);
  EXPECT_EQ(ends[3].how, "was killed by signal 9 (Killed)");
  // One at a time: they end in order.
  std::vector<std::size_t> order;
  run_jobs(jobs, 1, [&](const JobEnd& e) { order.push_back(e.index); });
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  EXPECT_THROW(run_jobs(jobs, 0, [](const JobEnd&) {}), Error);
}

// When the caller's on_end throws, the jobs still running are killed, not waited for.
TEST(Launcher, RunJobsKillsTheRestWhenTheCallerFails) {
  test::TempDir dir;
  const std::vector<Job> jobs = {{"quick", {"sh", "-c", "exit 0"}, dir / "q.log", "/bin/sh"},
                                 {"slow", {"sh", "-c", "exec sleep 300"}, dir / "s.log", "/bin/sh"}};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_jobs(jobs, 2, [](const JobEnd&) { throw Error("stop"); }), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

}  // namespace
}  // namespace tdml::dist
