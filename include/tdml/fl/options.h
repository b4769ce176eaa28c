#pragma once
// Everything a federated run is configured with (`tdml fl` fills it; the library never parses
// argv). Shared by the clients (client.h) and the server loop (runner.h).
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/fl/attacks.h"
#include "tdml/fl/server.h"
#include "tdml/fl/server_opt.h"
#include "tdml/train/amp.h"

namespace tdml::fl {

struct RunnerOptions {
  std::string model = "smallcifarcnn";  // models::make_model name
  int clients = 6;                      // clients (simulated, or spread over --nproc ranks)
  std::int64_t per_client = 6000;       // iid: samples per client (0 = train size / clients)
  std::string partition = "iid";        // iid | dirichlet
  double dirichlet_alpha = 0.5;         // dirichlet: concentration
  std::int64_t dirichlet_rows = 0;      // dirichlet: rows of the train set split (0 = all)
  int rounds = 3;                       // communication rounds
  int clients_per_round = 0;            // clients sampled each round (0 = all)
  int min_clients = 1;                  // admitted updates a round needs (else it is retried)
  int max_round_retries = 3;            // retries of a round short of min_clients, then fail
  std::string mode = "gradient";        // gradient (the study) | local (FedAvg, `--local train`)
  double server_lr = -1;                // -1: 0.3 in gradient mode (study), 1.0 in local mode
  int local_epochs = 1;                 // local: epochs of SGD per round
  double client_lr = 0.05;              // local: SGD learning rate
  double momentum = 0.9;                // local: SGD momentum (fresh every round)
  double weight_decay = 5e-4;           // local: SGD weight decay
  double prox_mu = 0;                   // local: FedProx term mu/2 |w - w_global|^2 (0 = off)
  ServerOptOptions server_opt;          // the server's step: sgd | avgm | adam (server_opt.h)
  std::int64_t batch_size = 128;        // client batch size (both modes)
  bool augment = true;                  // random crop 4 + flip on client batches
  train::AmpMode amp = train::AmpMode::kOff;  // bf16 autocast of forward passes (clients, eval)
  bool channels_last = false;                 // NHWC conv weights and batches (CPU/GPU fast path)
  std::uint64_t seed = 0;                     // partition, model init, attacks, shuffling
  int malicious = -1;                         // malicious clients; -1: int(clients * fraction)
  double malicious_fraction = 0.33;           // used when malicious = -1 (study: 0.33 -> 1 of 6)
  std::string attacks = "backdoor,zero,mean-shift,gaussian";  // mix cycled over malicious
  AttackOptions attack;                // attack parameters (shift, sigma, boost, trigger ...)
  ServerOptions server;                // rule, clipping, detection
  std::int64_t limit_test_batches = 0;  // test batches evaluated each round (0 = all)
  std::int64_t eval_batch_size = 500;   // images per evaluation batch
  int eval_every = 1;                   // evaluate after every N-th round and the last one
  bool eval_trigger = false;           // measure the trigger's success rate without a backdoor
                                       // client too (the baseline an attack is compared with)
  std::string out_dir;                 // DIR for metrics.json + fl.log ("" = write nothing)
  torch::Device device = torch::kCPU;  // where the model and batches live

  bool local() const { return mode == "local"; }
  // server_lr with the -1 default resolved (adam: 0.01, as Reddi et al.'s CIFAR-10 runs).
  double effective_server_lr() const {
    if (server_lr >= 0) return server_lr;
    if (server_opt.name == "adam") return 0.01;
    return local() ? 1.0 : 0.3;
  }
  // Throws UsageError for an inconsistent configuration.
  void validate() const;
};

// Every setting the server's step depends on: the rule and its parameters, clipping, bucketing,
// FLTrust's root set, detection, differential privacy (central or local) and the server
// optimiser and rate. A resumed `fl server` must run with the same (its saved state's config
// hash covers it), and the genesis block's config hash covers it. Evaluation settings are not in
// it: they change no round.
nlohmann::json server_step_config(const RunnerOptions& o);

}  // namespace tdml::fl
