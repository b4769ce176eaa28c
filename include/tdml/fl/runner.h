#pragma once
// The federated-learning simulation (`tdml fl`): N clients simulated one after another in one
// process, reusing ONE model instance (the global state is loaded into it before each client,
// never rebuilt), a robust server (server.h), attacks (attacks.h) and per-round metrics.
//
// Two client modes:
//  - gradient (the study): each client computes the average gradient of the loss over its whole
//    shard at the global model; the server applies params -= server_lr * aggregate.
//  - local (FedAvg): each client trains local_epochs of SGD on its shard from the global model
//    and sends (local params - global params); the server applies params += server_lr * agg.
// BatchNorm buffers (the study's pitfall: they stayed at their initial values, so evaluation sat
// at 10%): in both modes every client runs its shard through the model in train mode, and the
// server sets the global floating-point buffers to the coordinate-wise median (lower middle) of
// the buffers of the clients whose update entered the aggregation. They are not clipped and not
// part of the update the attacks act on. num_batches_tracked is left as it is.
// Metrics: one JSON object per round (schema in the README / RoundRecord::to_json), written
// atomically to metrics_path after every round when set.
// Errors: tdml::Error / UsageError (bad options, a rule's precondition failing in a round).
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/data/dataset.h"
#include "tdml/fl/attacks.h"
#include "tdml/fl/round_stats.h"
#include "tdml/fl/server.h"

namespace tdml::fl {

struct RunnerOptions {
  std::string model = "smallcifarcnn";  // models::make_model name
  int clients = 6;                      // simulated clients
  std::int64_t per_client = 6000;       // iid: samples per client (0 = train size / clients)
  std::string partition = "iid";        // iid | dirichlet
  double dirichlet_alpha = 0.5;         // dirichlet: concentration
  int rounds = 3;                       // communication rounds
  std::string mode = "gradient";        // gradient | local (FedAvg)
  double server_lr = -1;                // -1: 0.3 in gradient mode (study), 1.0 in local mode
  int local_epochs = 1;                 // local: epochs of SGD per round
  double client_lr = 0.05;              // local: SGD learning rate
  double momentum = 0.9;                // local: SGD momentum (fresh every round)
  double weight_decay = 5e-4;           // local: SGD weight decay
  std::int64_t batch_size = 128;        // client batch size (both modes)
  bool augment = true;                  // random crop 4 + flip on client batches
  std::uint64_t seed = 123;             // partition, model init, attacks, shuffling
  int malicious = -1;                   // malicious clients; -1: int(clients * fraction)
  double malicious_fraction = 0.33;     // used when malicious = -1 (study: 0.33 -> 1 of 6)
  std::string attacks = "backdoor,zero,mean-shift,gaussian";  // mix cycled over malicious
  AttackOptions attack;                // attack parameters (shift, sigma, boost, trigger ...)
  ServerOptions server;                // rule, clipping, detection
  std::int64_t eval_limit = 0;         // test images evaluated each round (0 = all)
  std::string metrics_path;            // JSON file rewritten after every round ("" = none)
  torch::Device device = torch::kCPU;  // where the model and batches live
};

struct ClientRecord {
  int id = 0;
  std::string attack;  // "none", "backdoor", "zero", ...
  std::int64_t samples = 0;
  double loss = 0;                     // mean training loss over its batches this round
  double mean = 0, std = 0, norm = 0;  // of the update it SENT (after any attack)
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
  CommBytes comm;                // bytes up (updates) and down (model + buffers)
  RoundAggregation aggregation;  // rejected / flagged / clipped / scores ...
  DetectionQuality detection;    // against the known malicious set
  std::vector<ClientRecord> clients;
  nlohmann::json to_json() const;
};

struct RunResult {
  std::vector<RoundRecord> rounds;
  nlohmann::json json;  // the whole metrics document
};

// Runs the simulation. train/test: the data sets (uint8 images); `data_description` goes into
// the metrics ("CIFAR-10 from ...", "synthetic ...").
RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& opts, const std::string& data_description = "");

}  // namespace tdml::fl
