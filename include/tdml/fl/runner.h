#pragma once
// The federated-learning simulation (`tdml fl`): a server loop over rounds (round_engine.h), the
// clients simulated one after another in this process (ClientPool, one shared model). A real
// federation of processes runs the same engine over the network (federation/).
//
// A round:
//   1. the server takes the global state (parameters + float buffers) -> RoundContext;
//   2. every sampled client computes its ClientUpdate from it (client.h);
//   3. ServerHooks::admit sees each update (id, flat update, samples, attestation) and may
//      refuse it: a refused update never reaches detection or the rule ("refused" in metrics);
//   4. RobustServer::aggregate (server.h): NaN/Inf rejection, detection, clipping, the rule;
//   5. params  = global + server_lr * agg (local mode) or global - server_lr * agg (gradient);
//      buffers = coordinate-wise median (lower middle) of the buffers of the aggregated clients
//      (the study's pitfall: BatchNorm statistics never left their initial values);
//   6. evaluation on the test set (accuracy, loss, backdoor success rates), metrics.
// For the same seed, partition and thread count a federation's global model is bit-identical to
// this run's (each round's model_hash in metrics.json shows it).
// Metrics: DIR/metrics.json (metrics::MetricsFile, kind "fl", status running/completed/failed)
// rewritten after every round, and DIR/fl.log. Schema: RoundRecord::to_json / README.
// Errors: tdml::Error / UsageError (bad options, a rule's precondition failing in a round, a
// client's failure).
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
  bool evaluated = false;  // the test set was run after this round (--eval-every)
  double test_accuracy = 0;
  double test_loss = 0;
  bool backdoor = false;      // whether the asr fields are meaningful
  double asr_non_target = 0;  // triggered non-target images classified as target
  double asr_all = 0;         // the study's variant: over all triggered images
  double aggregate_variance = 0;
  double aggregate_norm = 0;
  CommBytes comm;                // bytes sent up (update messages) and down (model + buffers)
  // How comm was counted: "per_client" (in-process: each client's messages, as a federation
  // would send them) or "wire" (a federation: as measured on the network).
  std::string comm_counted = "per_client";
  RoundAggregation aggregation;  // rejected / flagged / clipped / scores ... (client ids)
  DetectionQuality detection;    // against the known malicious set
  std::vector<ClientRecord> clients;
  std::string model_hash;  // ledger::model_hash of the global state dict after the round
  std::vector<int> sampled;  // clients sent the round (the last attempt's sample)
  std::vector<int> late;     // sampled, no update before the deadline
  std::vector<int> dropped;  // sampled, disconnected
  int attempts = 1;          // samples drawn (1 + retries for a missing quorum)
  // Differential privacy after this round (dp.h): null when off.
  struct Privacy {
    bool on = false;
    std::string mode;        // "central" | "local"
    double epsilon = 0, delta = 0, order = 0;
    double q = 0, sigma = 0;  // sampling rate and noise multiplier the accountant used
    double clip = 0;         // C this round
    double noise_std = 0;    // central: std of the noise on the sum
  } privacy;
  std::vector<int> adaptive;  // sampled clients that sent an adaptive attack's crafted vector
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
  ClientHooks client;  // runs where the clients run
  ServerHooks server;  // runs on the server
};

struct RunResult {
  std::vector<RoundRecord> rounds;
  nlohmann::json json;           // the whole metrics document
  std::string final_model_hash;
};

// Runs the federated training in this process. train/test: the data sets (uint8 images);
// `data_description` goes into the metrics.
RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& opts, const std::string& data_description = "",
                        const RunHooks& hooks = {});

// The in-process simulation on an explicit partition of `train` (`tdml fl --shards`: the
// shards one after another, part[k] = shard k's rows); opts.clients must equal part.size().
RunResult run_federated_on(const data::Dataset& train, Partition part, const data::Dataset& test,
                           const RunnerOptions& opts, const std::string& data_description = "",
                           const RunHooks& hooks = {});

}  // namespace tdml::fl
