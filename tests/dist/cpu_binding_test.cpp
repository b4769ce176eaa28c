#include "tdml/dist/cpu_binding.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "support/test_support.h"
#include "tdml/util/error.h"

namespace tdml::dist {
namespace {

// A sysfs cpu directory where cpuN has the given (package, core id); -1 writes no topology.
void write_topology(const test::TempDir& dir, int cpu, int package, int core) {
  const std::string topo = dir / ("cpu" + std::to_string(cpu) + "/topology");
  std::filesystem::create_directories(topo);
  if (package < 0) return;
  std::ofstream(topo + "/physical_package_id") << package << "\n";
  std::ofstream(topo + "/core_id") << core << "\n";
}

TEST(CpuBinding, GroupsHyperthreadsByPhysicalCore) {
  test::TempDir sys;
  // Linux numbers second hyperthreads after all first ones: cpu N and N+4 share core N.
  for (int c = 0; c < 8; ++c) write_topology(sys, c, 0, c % 4);
  write_topology(sys, 8, -1, -1);  // no topology files: a core of its own
  const auto cores = group_by_core({0, 1, 2, 3, 4, 5, 6, 7, 8}, sys.path());
  const std::vector<std::vector<int>> want{{0, 4}, {1, 5}, {2, 6}, {3, 7}, {8}};
  EXPECT_EQ(cores, want);
  // Two packages with the same core ids are different cores.
  test::TempDir two;
  write_topology(two, 0, 0, 0);
  write_topology(two, 1, 1, 0);
  EXPECT_EQ(group_by_core({0, 1}, two.path()).size(), 2u);
}

TEST(CpuBinding, DealsOutContiguousCoresWithTheirHyperthreads) {
  const std::vector<std::vector<int>> cores{{0, 4}, {1, 5}, {2, 6}, {3, 7}};
  auto r0 = share_for_local_rank(cores, 0, 2);
  auto r1 = share_for_local_rank(cores, 1, 2);
  EXPECT_EQ(r0.cpus, (std::vector<int>{0, 4, 1, 5}));
  EXPECT_EQ(r0.cores, 2);
  EXPECT_EQ(r1.cpus, (std::vector<int>{2, 6, 3, 7}));
  // Uneven: the last rank gets the extra core.
  EXPECT_EQ(share_for_local_rank(cores, 0, 3).cpus, (std::vector<int>{0, 4}));
  EXPECT_EQ(share_for_local_rank(cores, 2, 3).cpus, (std::vector<int>{2, 6, 3, 7}));
  EXPECT_EQ(share_for_local_rank(cores, 2, 3).cores, 2);
}

TEST(CpuBinding, FewerCoresThanRanksDealsOutCpusAndFewerCpusBindsNothing) {
  // One core with two hyperthreads (how some VMs describe two vCPUs), two ranks: one CPU each.
  const std::vector<std::vector<int>> one_core{{0, 1}};
  EXPECT_EQ(share_for_local_rank(one_core, 0, 2).cpus, std::vector<int>{0});
  EXPECT_EQ(share_for_local_rank(one_core, 1, 2).cpus, std::vector<int>{1});
  EXPECT_EQ(share_for_local_rank(one_core, 1, 2).cores, 1);
  // Four ranks on two CPUs: not bound.
  EXPECT_TRUE(share_for_local_rank(one_core, 3, 4).cpus.empty());
  EXPECT_EQ(share_for_local_rank(one_core, 3, 4).cores, 0);
  EXPECT_THROW(share_for_local_rank(one_core, 2, 2), Error);
}

TEST(CpuBinding, EveryCpuGoesToExactlyOneRank) {
  for (int n_cores = 1; n_cores <= 9; ++n_cores) {
    std::vector<std::vector<int>> cores;
    for (int c = 0; c < n_cores; ++c) cores.push_back({c, c + 100});
    for (int world = 1; world <= n_cores; ++world) {
      std::multiset<int> seen;
      for (int r = 0; r < world; ++r) {
        auto share = share_for_local_rank(cores, r, world);
        EXPECT_FALSE(share.cpus.empty()) << n_cores << " cores, rank " << r << " of " << world;
        seen.insert(share.cpus.begin(), share.cpus.end());
      }
      EXPECT_EQ(seen.size(), 2u * n_cores) << n_cores << " cores, " << world << " ranks";
      EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), seen.size());
    }
  }
}

TEST(CpuBinding, FormatsRangesAndParsesModes) {
  EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8, 9, 10, 11}), "0-3,8-11");
  EXPECT_EQ(format_cpu_list({5}), "5");
  EXPECT_EQ(format_cpu_list({1, 3}), "1,3");
  EXPECT_EQ(parse_cpu_bind("auto"), CpuBind::kAuto);
  EXPECT_EQ(parse_cpu_bind("none"), CpuBind::kNone);
  EXPECT_THROW(parse_cpu_bind("cores"), UsageError);
  // One rank a node: nothing is bound.
  EXPECT_TRUE(place_local_rank(CpuBind::kAuto, 0, 1).cpus.empty());
}

std::vector<int> cpus_of_thread(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(tid, sizeof(set), &set), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

TEST(CpuBinding, BindsThreadsAlreadyRunningAndThoseStartedLater) {
  const auto original = allowed_cpus();
  ASSERT_FALSE(original.empty());
  const std::vector<int> one{original.back()};
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread running([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!stop) std::this_thread::yield();
  });
  while (tid == 0) std::this_thread::yield();
  bind_process(one);
  EXPECT_EQ(cpus_of_thread(0), one);
  EXPECT_EQ(cpus_of_thread(tid), one);  // a thread that was already running
  std::vector<int> later;
  std::thread([&] { later = cpus_of_thread(0); }).join();
  EXPECT_EQ(later, one);  // inherited
  stop = true;
  running.join();
  bind_process(original);  // the rest of this process runs as before
  EXPECT_EQ(allowed_cpus(), original);
}

}  // namespace
}  // namespace tdml::dist
