#pragma once
// The client side of a federated round: what one client computes from the global model, and
// the one process-local object that holds every client's data and ONE model instance reused by
// all of them (the global state is loaded into it before each client; never rebuilt).
//
// The unit that travels from a client to the server is a ClientUpdate: client id, the flat
// update it SENDS (after its attack, if malicious), its BatchNorm buffers, its sample count and
// an opaque `attestation` (bytes a ClientHooks::attest callback attaches, e.g. a signature of
// the update's hash; the server checks it before aggregating, see runner.h ServerHooks).
//
// Determinism: a client's update depends only on (run seed, round, client id, global state), so
// clients may run in any order, in one process or on other ranks, with the same result (given
// the same intra-op thread count: CPU kernels reduce in thread-dependent order).
// Not thread-safe (one model is shared by the clients it runs).
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tdml/data/dataset.h"
#include "tdml/fl/attacks.h"
#include "tdml/fl/options.h"
#include "tdml/fl/partition.h"
#include "tdml/fl/update.h"
#include "tdml/models/model.h"

namespace tdml::fl {

// What the server sends at the start of a round (the model is the same for every client).
struct RoundContext {
  int round = 0;                 // 1-based
  torch::Tensor global_params;   // float [d]: the global model's parameters
  torch::Tensor global_buffers;  // float [b]: its floating-point buffers (BatchNorm)
  // GlobalModelHash (model_hash.h) of the two above: the base model a client signs and the
  // round's model_before. Set by whoever builds the context from the vectors themselves.
  std::string model_hash;
};

struct ClientUpdate {
  int client = 0;            // client id, 0 .. clients-1
  torch::Tensor update;      // float [d]: gradient (gradient mode) or weight delta (local mode)
  torch::Tensor buffers;     // float [b]: BatchNorm buffers after its local pass
  std::int64_t samples = 0;  // samples in its shard (the mean's weight)
  double loss = 0;           // mean training loss over its batches this round
  std::string attestation;   // opaque bytes from ClientHooks::attest ("" = none)
};

struct ClientHooks {
  // Called on the client right after its update is computed (before it is sent). Returns the
  // bytes to attach as ClientUpdate::attestation, e.g. a signature over the update's SHA-256.
  std::function<std::string(const RoundContext&, const ClientUpdate&)> attest;
};

// The attack plan `tdml fl` derives from its options (the first `malicious` clients attack).
AttackPlan make_attack_plan(const RunnerOptions& opts);

// All clients of a run, as seen by one process: the partition, the attack plan, every client's
// training labels/poisoned rows, one model and its flat layouts. Built identically on every rank
// (same options and seed), so the server's model and the clients' start from the same init.
// Holds a reference to `train`: it must outlive the pool.
class ClientPool {
 public:
  ClientPool(const data::Dataset& train, const RunnerOptions& opts);
  // Explicit partition (rows of `train` per client; an empty tensor for a client not held
  // here) and attack plan: `tdml fl --shards` and a federation client process.
  ClientPool(const data::Dataset& train, const RunnerOptions& opts, Partition part,
             AttackPlan plan);
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // Runs client `client`'s local work for the round from ctx's global state and returns what
  // it sends. Leaves the shared model holding that client's local state.
  // An adaptive attacker (alie, ipm, minmax) is returned with its own update and no
  // attestation: the simulation crafts its vector from the round's benign updates, then signs.
  ClientUpdate run(int client, const RoundContext& ctx, const ClientHooks& hooks = {});
  // The server's honest update on rows of the train set it holds (FLTrust's root set), by the
  // same recipe as a client's.
  torch::Tensor root_update(const torch::Tensor& rows, const RoundContext& ctx);

  int clients() const { return static_cast<int>(rows_.size()); }
  std::int64_t samples(int client) const { return rows_.at(client).numel(); }
  const AttackPlan& plan() const { return plan_; }
  models::Model& model() { return *model_; }
  const FlatLayout& params() const { return params_; }
  const FlatLayout& buffers() const { return buffers_; }

 private:
  struct Local {
    torch::Tensor update;  // honest: gradient or weight delta
    double loss = 0;
  };
  // The local work on `rows` (labels: what it trains on; poisoned: bool mask or undefined);
  // k seeds its augmentation and shuffling.
  Local train_on(int k, const torch::Tensor& rows, const torch::Tensor& labels,
                 const torch::Tensor& poisoned, const RoundContext& ctx);

  const data::Dataset& train_;
  RunnerOptions opts_;
  AttackPlan plan_;
  std::vector<torch::Tensor> rows_;      // int64 rows of the train set, per client
  std::vector<torch::Tensor> labels_;    // int64, what each trains on (label-flipped if so)
  std::vector<torch::Tensor> poisoned_;  // bool per row of the shard (backdoor)
  std::shared_ptr<models::Model> model_;
  FlatLayout params_;
  FlatLayout buffers_;
};

}  // namespace tdml::fl
