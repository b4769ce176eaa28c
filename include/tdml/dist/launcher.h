#pragma once
// `tdml <command> ... --nproc N`: starts N worker processes of this same binary with the same
// arguments and the torchrun environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// GROUP_RANK, MASTER_ADDR, MASTER_PORT, TDML_DIST_TIMEOUT_S), forwards their output line by line
// prefixed with "[rank k] ", and waits. A worker sees is_worker_process() (process_group.h)
// and runs its share instead of launching again. Rank 0 hosts the rendezvous store.
//
// Failure: when a worker exits non-zero or dies by a signal, the others get `grace` to fail on
// their own (they notice the lost peer at their next collective), then SIGTERM, then SIGKILL;
// launch_workers throws tdml::Error naming the first failed rank and how it ended. Workers die
// with the launcher (PR_SET_PDEATHSIG). SIGINT/SIGTERM to the launcher are passed on.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tdml::dist {

struct LaunchOptions {
  int nproc = 1;                          // workers on this node (>= 1)
  int nnodes = 1;                         // nodes; each runs the launcher with its --node-rank
  int node_rank = 0;                      // this node; global rank = node_rank * nproc + local
  std::string master_addr = "127.0.0.1";  // where rank 0 hosts the store
  int master_port = 0;                    // 0: a free port picked here (single node only)
  // Rendezvous and collective timeout of the workers (passed as TDML_DIST_TIMEOUT_S).
  std::chrono::seconds timeout{300};
  // After the first failure, how long the others may take to exit on their own (a lost peer
  // shows at their next collective, within milliseconds; a hung one is then terminated).
  std::chrono::seconds grace{3};
  bool prefix_output = true;  // prefix each forwarded line with "[rank k] "
};

// A TCP port free at the time of the call (binds port 0 on all interfaces and closes it).
int pick_free_port();

// Runs the workers to completion. argv: the command line to run (argv[0] ignored: the
// binary is /proc/self/exe); empty = this process's own command line (/proc/self/cmdline).
// Returns 0 when every worker exited with status 0; otherwise throws tdml::Error
// ("rank 1 (pid 4242) was killed by signal 9 (Killed); ...").
int launch_workers(const LaunchOptions& options, std::vector<std::string> argv = {});

// One process of a local job that is not a c10d group (`tdml fl --nproc`: a server and clients).
struct ProcessSpec {
  std::string name;              // prefixes its output ("[server] ") and names it in errors
  std::vector<std::string> env;  // NAME=VALUE on top of this process's environment
  // Its failure ends the job (the others get `grace`, then SIGTERM). A party that is not
  // essential may fail alone: that is logged and the others go on.
  bool essential = true;
};

// Runs one process of `argv` (empty = this process's command line) per spec, supervised as
// launch_workers does, without the torchrun variables. Returns 0 when every essential process
// exited with 0; otherwise throws tdml::Error ("local job failed: server (pid 42) ...").
int launch_processes(const std::vector<ProcessSpec>& specs, const LaunchOptions& options,
                     std::vector<std::string> argv = {});

}  // namespace tdml::dist
