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
#include <cstddef>
#include <cstdint>
#include <functional>
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
  // launch_workers: after a failed attempt, start the whole group again up to this many times,
  // as torchrun --max-restarts does (the workers see TORCHELASTIC_RESTART_COUNT = the attempt;
  // with --save-every and --resume auto they continue from the newest checkpoint). Single node.
  int max_restarts = 0;
};

// A TCP port free at the time of the call (binds port 0 on all interfaces and closes it).
int pick_free_port();

// Runs the workers to completion (restarting the group up to options.max_restarts times). argv: the command line to run (argv[0] ignored: the
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

// One of a batch of independent jobs (`tdml fl grid`'s cells): a child process whose stdout and
// stderr go to a file instead of this process's output.
struct Job {
  std::string name;               // names it in errors
  std::vector<std::string> argv;  // the command line; argv[0] is what the child sees as its name
  std::string log_path;           // stdout + stderr (truncated first; its folder must exist)
  std::string binary;             // what to run; "" = this binary (/proc/self/exe)
};

// How a job ended, as run_jobs reports it.
struct JobEnd {
  std::size_t index = 0;  // into the jobs given
  bool ok = false;        // exited with status 0
  int exit_code = -1;     // its exit status; -1 when killed by a signal
  std::string how;        // "exited with status 1", "was killed by signal 9 (Killed)"
  double seconds = 0;     // wall time from start to exit
};

// Runs the jobs in order, at most `parallel` (>= 1) at a time, with this process's environment
// (less the torchrun variables) and stdin from /dev/null; `on_end` is called in this thread as
// each ends. A failed job ends no other (unlike launch_processes): the caller sees it in on_end.
// SIGINT/SIGTERM: no new job starts, the running ones get SIGTERM (SIGKILL after 5 s), and
// run_jobs throws tdml::Error naming them once they are gone. Jobs die with this process
// (PR_SET_PDEATHSIG); if on_end throws, the running jobs are killed and the exception passes on.
void run_jobs(const std::vector<Job>& jobs, int parallel,
              const std::function<void(const JobEnd&)>& on_end);

}  // namespace tdml::dist
