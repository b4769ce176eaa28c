#pragma once
// One way to start and join a distributed job, for every command that runs ranks (train
// --mode ddp, train --mode pipeline, fl --nproc, bench allreduce):
//   - in the launching process (no RANK in the environment), launch_or_join starts the local
//     workers (launcher.h) and waits for them;
//   - inside a worker (started by that launcher or by torchrun), it joins: rendezvous and process
//     group (process_group.h), CPU placement of this rank (cpu_binding.h), intra-op threads, the
//     rank's device (one GPU per local rank under NCCL), then runs the command's body. Any
//     failure of the body or the join is written to $TORCHELASTIC_ERROR_FILE (so torchrun names
//     it) and rethrown as it was.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/dist/launcher.h"
#include "tdml/dist/process_group.h"

namespace tdml::dist {

struct RankRequest {
  // Intra-op threads; 0: the cores of this rank's share of the node (bound or not).
  int threads = 0;
  // "auto": cuda:LOCAL_RANK under NCCL, else cpu; "cuda": cuda:LOCAL_RANK; or as given.
  std::string device = "auto";
};

// A joined rank. The Comm is shared with what the body builds on it.
struct Rank {
  std::shared_ptr<Comm> comm;
  DistOptions options;     // as joined (rank, world, local rank, nodes, backend ...)
  int threads = 1;         // intra-op threads, already set for this process
  std::string device;      // this rank's device ("cpu", "cuda:1")
  nlohmann::json cpu_bind; // the placement record for metrics.json ("run"."cpu_bind")
  int rank() const { return comm->rank(); }
  int world() const { return comm->world(); }
};

// "auto"/"cuda" resolved for a rank: see RankRequest::device.
std::string rank_device(const std::string& requested, BackendKind kind, int local_rank);

// Inside a worker: joins the group and places this rank (see the header comment). Throws
// tdml::Error (rendezvous, binding) after writing the torchrun error file.
Rank join_job(const DistOptions& options, const RankRequest& request);

// Runs fn; an exception is written to $TORCHELASTIC_ERROR_FILE, then rethrown unchanged.
void report_failure_to_torchrun(const std::function<void()>& fn);

// The entry point: in the launching process, launches `launch.nproc` workers of this command
// line and returns 0 when all succeed (throws tdml::Error naming the first failed rank
// otherwise); in a worker, joins (join_job) and runs body(rank), returning 0.
int launch_or_join(const LaunchOptions& launch, const DistOptions& options,
                   const RankRequest& request, const std::function<void(Rank&)>& body);

}  // namespace tdml::dist
