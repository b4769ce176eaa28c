#include "tdml/dist/cpu_binding.h"

#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <spdlog/spdlog.h>

#include "tdml/dist/process_group.h"
#include "tdml/util/error.h"
#include "tdml/util/system.h"

namespace tdml::dist {

CpuBind parse_cpu_bind(const std::string& name) {
  if (name == "auto") return CpuBind::kAuto;
  if (name == "none") return CpuBind::kNone;
  throw UsageError("--cpu-bind " + name + ": expected auto or none");
}

std::string cpu_bind_name(CpuBind mode) { return mode == CpuBind::kAuto ? "auto" : "none"; }

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

namespace {

// The integer in a one-number sysfs file, or `fallback` when it is missing or unreadable.
long read_number(const std::string& path, long fallback) {
  std::ifstream in(path);
  long v = 0;
  return in >> v ? v : fallback;
}

}  // namespace

std::vector<std::vector<int>> group_by_core(const std::vector<int>& cpus,
                                            const std::string& sysfs_cpu_dir) {
  // (package, core id) -> CPUs; a CPU without topology gets a key of its own.
  std::map<std::pair<long, long>, std::vector<int>> by_core;
  std::vector<std::pair<long, long>> order;
  for (int c : cpus) {
    const std::string dir = sysfs_cpu_dir + "/cpu" + std::to_string(c) + "/topology/";
    const long package = read_number(dir + "physical_package_id", -1);
    const long core = read_number(dir + "core_id", -1);
    const std::pair<long, long> key =
        package < 0 || core < 0 ? std::make_pair(-1L - c, -1L) : std::make_pair(package, core);
    auto& group = by_core[key];
    if (group.empty()) order.push_back(key);
    group.push_back(c);
  }
  std::vector<std::vector<int>> cores;
  for (const auto& key : order) cores.push_back(by_core[key]);  // by lowest CPU (cpus ascend)
  return cores;
}

CpuShare share_for_local_rank(const std::vector<std::vector<int>>& cores, int local_rank,
                              int local_world) {
  TDML_CHECK(local_world >= 1 && local_rank >= 0 && local_rank < local_world,
             "local rank " << local_rank << " of " << local_world);
  std::vector<std::vector<int>> units = cores;
  if (static_cast<int>(cores.size()) < local_world) {  // not a core each: deal out the CPUs
    units.clear();
    for (const auto& core : cores) {
      for (int c : core) units.push_back({c});
    }
  }
  CpuShare share;
  const auto n = static_cast<long>(units.size());
  if (n < local_world) return share;
  // Contiguous runs: rank r gets units [r*n/L, (r+1)*n/L).
  for (long u = local_rank * n / local_world; u < (local_rank + 1) * n / local_world; ++u) {
    share.cpus.insert(share.cpus.end(), units[u].begin(), units[u].end());
    ++share.cores;
  }
  return share;
}

void bind_process(const std::vector<int>& cpus) {
  TDML_CHECK(!cpus.empty(), "bind_process: no CPUs");
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  // sched_setaffinity binds one thread: bind each running thread (threads started later inherit
  // the mask of the thread that starts them).
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) {
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
      throw Error("cannot bind to CPUs " + format_cpu_list(cpus) + ": " + std::strerror(errno));
    }
    return;
  }
  std::string failure;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const auto tid = static_cast<pid_t>(std::atol(e->d_name));
    // ESRCH: the thread ended meanwhile.
    if (sched_setaffinity(tid, sizeof(set), &set) != 0 && errno != ESRCH && failure.empty()) {
      failure = std::strerror(errno);
    }
  }
  closedir(dir);
  if (!failure.empty()) {
    throw Error("cannot bind to CPUs " + format_cpu_list(cpus) + ": " + failure +
                " (--cpu-bind none leaves placement to the OS)");
  }
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::ostringstream os;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (i > 0) os << ',';
    os << cpus[i];
    if (j > i) os << '-' << cpus[j];
    i = j + 1;
  }
  return os.str();
}

CpuShare place_local_rank(CpuBind mode, int local_rank, int local_world) {
  if (mode == CpuBind::kNone || local_world <= 1) return {};
  auto share = share_for_local_rank(group_by_core(allowed_cpus()), local_rank, local_world);
  if (share.cpus.empty()) return share;
  try {
    bind_process(share.cpus);
  } catch (const Error& e) {  // a sandbox may forbid it: run unbound rather than not at all
    spdlog::warn("local rank {}: {}; running unbound", local_rank, e.what());
    return {};
  }
  return share;
}

RankPlacement place_rank(Comm& comm, CpuBind mode, int local_rank, int local_world,
                         int requested_threads) {
  const CpuShare share = place_local_rank(mode, local_rank, local_world);
  RankPlacement p;
  p.threads = requested_threads > 0   ? requested_threads
              : share.cores > 0       ? share.cores
                                      : std::max(1, util::cpu_cores() / std::max(1, local_world));
  // Every rank's CPUs, as a mask row per rank, for rank 0's metrics.
  auto mask = torch::zeros({CPU_SETSIZE}, torch::kUInt8);
  for (int c : share.cpus) mask[c] = 1;
  nlohmann::json by_rank = nlohmann::json::array();
  for (const auto& row : comm.all_gather(mask)) {
    std::vector<int> cpus;
    const auto bytes = row.contiguous();
    const auto* bit = bytes.data_ptr<std::uint8_t>();
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (bit[c]) cpus.push_back(c);
    }
    by_rank.push_back(cpus.empty() ? "any" : format_cpu_list(cpus));
  }
  p.record = {{"mode", cpu_bind_name(mode)}, {"cpus_by_rank", by_rank}};
  p.description = share.cpus.empty() ? std::string("unbound")
                                     : "bound to CPUs " + format_cpu_list(share.cpus);
  return p;
}

}  // namespace tdml::dist
