#pragma once
// The server's round engine, shared by both transports: the in-process simulation (`tdml fl`)
// and the network federation (`tdml fl server`, `tdml fl --nproc`: federation/).
//
// A round (runner.h describes the maths):
//   1. sample `clients_per_round` of the clients the source says are available, reproducibly
//      from (seed, round, attempt): sample_clients below;
//   2. the source sends the global state to the sampled clients and returns their updates, and
//      names each sampled client that sent none: "late" (after the deadline) or "dropped";
//   3. ServerHooks::admit may refuse an update (bad signature ...);
//   4. with fewer than `min_clients` admitted updates the round is retried with a new sample;
//      after `max_round_retries` retries the run fails (tdml::Error naming the counts);
//   5. robust aggregation, the server step (server_opt.h), the buffers' median, evaluation,
//      the privacy spent so far (dp.h), one RoundRecord.
// The engine owns no clients: a transport is an UpdateSource. Not thread-safe.
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tdml/data/dataset.h"
#include "tdml/fl/client.h"
#include "tdml/fl/model_hash.h"
#include "tdml/fl/runner.h"
#include "tdml/fl/server_opt.h"

namespace tdml::metrics {
class MetricsFile;
}

namespace tdml::fl {

// What a source reports for the sampled clients that sent no update this attempt.
struct Missing {
  std::vector<int> late;     // answered after the deadline (or not at all before it)
  std::vector<int> dropped;  // disconnected while sampled
};

class UpdateSource {
 public:
  virtual ~UpdateSource() = default;
  // Clients that can be sampled now, in id order (a network source may wait for them).
  virtual std::vector<int> available(int round) = 0;
  // Sends ctx to `sampled` and calls `got` with each update that arrives in time.
  virtual Missing collect(const RoundContext& ctx, const std::vector<int>& sampled,
                          const std::function<void(ClientUpdate)>& got) = 0;
  // Bytes this source moved for the last collect (down, up) as it counts them.
  virtual CommBytes bytes(const RoundContext& ctx, const std::vector<ClientUpdate>& updates) = 0;
  // How the bytes were counted ("per_client" in-process, "wire" as measured).
  virtual std::string counted() const = 0;
  // Seconds of the last collect spent in transport (0 when the source cannot tell) and in
  // client compute (as the clients report it; 0 in-process where client_seconds is all compute).
  virtual double transport_seconds() const { return 0; }
  virtual double client_compute_seconds() const { return 0; }
};

// The global model the engine steps: a module and its flat layouts (fl/update.h).
struct GlobalModel {
  models::Model& model;
  const FlatLayout& params;
  const FlatLayout& buffers;
};

// `k` of `available` (all when k <= 0 or k >= size), sorted, from (seed, round, attempt) only.
std::vector<int> sample_clients(const std::vector<int>& available, int k, std::uint64_t seed,
                                int round, int attempt);

class RoundEngine {
 public:
  // plan: the attack plan when the engine knows it (simulation), else null (a federation's
  // server cannot know who attacks: attack "unknown", no detection precision/recall).
  // world: processes in the run (metrics "processes").
  RoundEngine(GlobalModel global, UpdateSource& source, const data::Dataset& test,
              const RunnerOptions& o, const ServerHooks& hooks, const AttackPlan* plan, int world);

  ~RoundEngine();

  // A resumed run: rounds 1..completed are done (their metrics.json records in `rounds`); the
  // global model must already hold their result. run() continues at completed + 1.
  void resume_after(int completed, nlohmann::json rounds);
  // FLTrust: the server's update on its root set for a round (set when the rule needs it).
  void set_root_update(std::function<torch::Tensor(const RoundContext&)> root);

  // What the next round depends on besides the global model: the server optimiser's moments,
  // the last aggregate (cclip's centre) and adaptive clipping's C. A resumed federation saves
  // and restores it so that it equals an uninterrupted run.
  struct StepState {
    torch::Tensor previous;              // float [d], undefined before round 1
    std::vector<torch::Tensor> moments;  // server optimiser (float [d] each)
    double dp_clip = 0;                  // central DP's C for the next round (0: --dp-clip)
  };
  StepState step_state() const;
  void load_step_state(StepState s);
  // Runs rounds 1 .. o.rounds, writing o.out_dir/metrics.json after each; extra_config is
  // merged into metrics.json's "config" (a federation's transport settings).
  RunResult run(const std::string& data_description, const nlohmann::json& extra_config = {});

 private:
  struct Collected;
  void open_metrics(const std::string& data_description, const nlohmann::json& extra_config);
  RoundRecord run_round(int round);
  Collected collect(const RoundContext& ctx, RoundRecord& rec);
  Collected collect_once(const RoundContext& ctx, const std::vector<int>& sampled,
                         RoundRecord& rec);
  void aggregate(const RoundContext& ctx, const Collected& c, RoundRecord& rec);
  void account_privacy(int round, const RoundAggregation& agg, RoundRecord& rec) const;
  void evaluate_round(RoundRecord& rec);
  void log_round(const RoundRecord& rec) const;
  std::string attack_of(int client) const;

  GlobalModel global_;
  GlobalModelHash hash_;
  UpdateSource& source_;
  const data::Dataset& test_;
  const RunnerOptions& o_;
  const ServerHooks& hooks_;
  const AttackPlan* plan_;
  int world_;
  int completed_ = 0;
  nlohmann::json prior_rounds_ = nlohmann::json::array();
  RobustServer server_;
  ServerOptimizer optimizer_;
  torch::Tensor previous_;
  double dp_clip_ = 0;
  std::function<torch::Tensor(const RoundContext&)> root_;
  std::unique_ptr<metrics::MetricsFile> mf_;
};

}  // namespace tdml::fl
