#pragma once
// The federated-learning run (`tdml fl`): a server loop over rounds, with the clients either
// simulated one after another in this process (ClientPool, one shared model) or spread over the
// ranks of a c10d group (`--nproc N`, or ranks on other machines joining MASTER_ADDR:PORT).
//
// A round:
//   1. the server takes the global state (parameters + float buffers) -> RoundContext;
//   2. every client computes its ClientUpdate from it (client.h); over c10d rank 0 broadcasts
//      the state and receives each update point-to-point from the client's rank;
//   3. ServerHooks::admit sees each update (id, flat update, samples, attestation) and may
//      refuse it: a refused update never reaches detection or the rule ("refused" in metrics);
//   4. RobustServer::aggregate (server.h): NaN/Inf rejection, detection, clipping, the rule;
//   5. params  = global + server_lr * agg (local mode) or global - server_lr * agg (gradient);
//      buffers = coordinate-wise median (lower middle) of the buffers of the aggregated clients
//      (the study's pitfall: BatchNorm statistics never left their initial values);
//   6. evaluation on the test set (accuracy, loss, backdoor success rates), metrics.
// Placement over c10d: rank 0 is the server only; client k runs on rank 1 + k % (world - 1).
// Every rank builds the same ClientPool (same options and seed), so the model init, partition
// and attack plan agree without being sent. For the same seed and thread count the global model
// is bit-identical to the in-process run (each round's model_hash in metrics.json shows it).
// Metrics: DIR/metrics.json (metrics::MetricsFile, kind "fl", status running/completed/failed)
// rewritten after every round, and DIR/fl.log. Schema: RoundRecord::to_json / README.
// Errors: tdml::Error / UsageError (bad options, a rule's precondition failing in a round, a
// lost rank).
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tdml/data/dataset.h"
#include "tdml/fl/client.h"
#include "tdml/fl/options.h"
#include "tdml/fl/round_stats.h"
#include "tdml/fl/server.h"

namespace tdml::dist {
class Comm;
}

namespace tdml::fl {

struct ClientRecord {
  int id = 0;
  std::string attack;  // "none", "backdoor", "zero", ...
  std::int64_t samples = 0;
  double loss = 0;                     // mean training loss over its batches this round
  double mean = 0, std = 0, norm = 0;  // of the update it SENT (after any attack)
  std::string refused;                 // why ServerHooks::admit refused it ("" = admitted)
};

struct RoundRecord {
  int round = 0;       // 1-based
  double seconds = 0;  // whole round (clients + server + evaluation)
  double client_seconds = 0;
  double server_seconds = 0;
  double eval_seconds = 0;
  std::int64_t samples = 0;  // training samples processed by all clients
  double samples_per_s = 0;  // samples / client_seconds
  double test_accuracy = 0;
  double test_loss = 0;
  bool backdoor = false;      // whether the asr fields are meaningful
  double asr_non_target = 0;  // triggered non-target images classified as target
  double asr_all = 0;         // the study's variant: over all triggered images
  double aggregate_variance = 0;
  double aggregate_norm = 0;
  CommBytes comm;                // bytes sent up (update messages) and down (model + buffers)
  // How comm was counted: "per_client" (in-process: each client's messages, as a federation
  // would send them) or "per_rank" (c10d: the state is broadcast once to each client rank).
  std::string comm_counted = "per_client";
  RoundAggregation aggregation;  // rejected / flagged / clipped / scores ... (client ids)
  DetectionQuality detection;    // against the known malicious set
  std::vector<ClientRecord> clients;
  std::string model_hash;  // ledger::model_hash of the global state dict after the round
  std::vector<int> sampled;  // clients sent the round (the last attempt's sample)
  std::vector<int> late;     // sampled, no update before the deadline
  std::vector<int> dropped;  // sampled, disconnected
  int attempts = 1;          // samples drawn (1 + retries for a missing quorum)
  double transport_seconds = 0;       // network: time on the wire (0 in-process)
  double client_compute_seconds = 0;  // network: client compute as the clients report it
  nlohmann::json to_json() const;
};

struct ServerHooks {
  // Called on the server for every received update, in client order, before detection and
  // aggregation. Returns "" to admit it, or the reason it is refused (e.g. "bad signature").
  std::function<std::string(const RoundContext&, const ClientUpdate&)> admit;
  // Called once a round is complete (its record filled, the new global model in place).
  std::function<void(const RoundContext&, const RoundRecord&, const std::vector<ClientUpdate>&)>
      on_round;
};

struct RunHooks {
  ClientHooks client;  // runs where the clients run (their ranks under c10d)
  ServerHooks server;  // runs on the server (rank 0)
};

struct RunResult {
  std::vector<RoundRecord> rounds;  // empty on client ranks
  nlohmann::json json;              // the whole metrics document (null on client ranks)
  std::string final_model_hash;     // server only
};

// Runs the federated training. train/test: the data sets (uint8 images); `data_description`
// goes into the metrics. comm: null = in-process simulation; otherwise this rank's communicator
// (world >= 2): rank 0 runs the server (and returns the metrics), the others run their clients.
RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& opts, const std::string& data_description = "",
                        const RunHooks& hooks = {}, std::shared_ptr<dist::Comm> comm = nullptr);

// The in-process simulation on an explicit partition of `train` (`tdml fl --shards`: the
// shards one after another, part[k] = shard k's rows); opts.clients must equal part.size().
RunResult run_federated_on(const data::Dataset& train, Partition part, const data::Dataset& test,
                           const RunnerOptions& opts, const std::string& data_description = "",
                           const RunHooks& hooks = {});

// The rank that runs client `client` in a group of `world` ranks (rank 0 is the server).
int client_rank(int client, int world);

}  // namespace tdml::fl
