#pragma once
// Which CPUs each rank on a node runs on (--cpu-bind).
//
// Several ranks of one job on one machine (DDP ranks, pipeline stages) each run their own
// intra-op threads, loader thread and Gloo threads. Left to the scheduler, they migrate between
// CPUs and share them unevenly; a rank that falls behind makes every other rank wait at the
// next collective or receive. With --cpu-bind auto (the default) each local rank is bound to
// its own run of cores: the CPUs this process may use are grouped by physical core (a core's
// hyperthreads stay together), and the cores are dealt out in contiguous runs, local rank 0
// first. Where there are fewer cores than local ranks but enough logical CPUs, the CPUs are
// dealt out instead; where there are fewer CPUs than local ranks, nothing is bound. A mask the
// job was started with (taskset, a Slurm or container cpuset) is what gets divided.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tdml::dist {

enum class CpuBind {
  kAuto,  // bind each local rank to its own cores when there is more than one local rank
  kNone,  // leave placement to the OS
};

// "auto" | "none" -> CpuBind; throws tdml::UsageError otherwise.
CpuBind parse_cpu_bind(const std::string& name);
std::string cpu_bind_name(CpuBind mode);

// The logical CPUs this process may run on (its affinity mask), ascending.
std::vector<int> allowed_cpus();

// `cpus` grouped by physical core, read from SYSFS_CPU_DIR/cpuN/topology (package, core id);
// cores ordered by their lowest CPU. A CPU without topology files is a core of its own.
std::vector<std::vector<int>> group_by_core(const std::vector<int>& cpus,
                                            const std::string& sysfs_cpu_dir =
                                                "/sys/devices/system/cpu");

// What local rank `local_rank` of `local_world` gets of `cores` (see the top of this file).
struct CpuShare {
  std::vector<int> cpus;  // empty: no binding (fewer CPUs than local ranks)
  int cores = 0;          // physical cores among them (the default intra-op thread count)
};
CpuShare share_for_local_rank(const std::vector<std::vector<int>>& cores, int local_rank,
                              int local_world);

// Binds every thread of this process, those running now and (by inheritance) those it starts
// later, to `cpus`. Throws tdml::Error naming the CPUs when the kernel refuses.
void bind_process(const std::vector<int>& cpus);

// "0-3,8-11" for {0,1,2,3,8,9,10,11}.
std::string format_cpu_list(const std::vector<int>& cpus);

// What a rank does at start-up: under kAuto with local_world > 1, binds this process to its
// share and returns it; otherwise binds nothing and returns an empty share. Where the kernel
// refuses the binding, warns and returns an empty share (the run goes on unbound).
CpuShare place_local_rank(CpuBind mode, int local_rank, int local_world);

class Comm;

// place_local_rank for one rank of `comm` (collective: every rank calls it), with the rank's
// intra-op thread count: `requested_threads` when > 0, else the cores of its share, else (not
// bound) the node's CPUs / local ranks.
struct RankPlacement {
  int threads = 1;
  nlohmann::json record;    // {"mode": "auto", "cpus_by_rank": ["0", "1"]} ("any": not bound)
  std::string description;  // "bound to CPUs 0-3" | "unbound", for this rank's log line
};
RankPlacement place_rank(Comm& comm, CpuBind mode, int local_rank, int local_world,
                         int requested_threads);

}  // namespace tdml::dist
