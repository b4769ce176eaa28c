#include "tdml/fl/runner.h"

#include <spdlog/spdlog.h>

#include <map>

#include "fl/seed.h"
#include "tdml/fl/round_engine.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

constexpr std::uint64_t kSaltRoot = 0x726f;  // "ro"

std::vector<int> all_clients(int n) {
  std::vector<int> v(n);
  for (int k = 0; k < n; ++k) v[k] = k;
  return v;
}

// Bytes as a federation would send them: every update message up, the state to every client.
CommBytes per_client_bytes(const RoundContext& ctx, const std::vector<ClientUpdate>& updates,
                           std::int64_t receivers);

// The simulation: every sampled client computed here, one after another; none is ever late.
class InProcessSource : public UpdateSource {
 public:
  InProcessSource(ClientPool& pool, const ClientHooks& hooks) : pool_(pool), hooks_(hooks) {}
  std::vector<int> available(int) override { return all_clients(pool_.clients()); }
  Missing collect(const RoundContext& ctx, const std::vector<int>& sampled,
                  const std::function<void(ClientUpdate)>& got) override {
    receivers_ = static_cast<std::int64_t>(sampled.size());
    if (!pool_.plan().any_adaptive()) {
      for (int k : sampled) got(pool_.run(k, ctx, hooks_));
      return {};
    }
    // Adaptive attackers collude and see the round's benign updates (the papers' omniscient
    // setting): every sampled client works first, then the attackers' vector is crafted,
    // signed and sent with the others.
    std::vector<ClientUpdate> updates;
    for (int k : sampled) updates.push_back(pool_.run(k, ctx, hooks_));
    craft_adaptive(ctx, updates);
    for (auto& u : updates) got(std::move(u));
    return {};
  }
  CommBytes bytes(const RoundContext& ctx, const std::vector<ClientUpdate>& updates) override {
    return per_client_bytes(ctx, updates, receivers_);
  }
  std::string counted() const override { return "per_client"; }

 private:
  void craft_adaptive(const RoundContext& ctx, std::vector<ClientUpdate>& updates) const {
    const auto& plan = pool_.plan();
    std::vector<torch::Tensor> benign;
    int f = 0;
    for (const auto& u : updates) {
      if (!plan.is_malicious(u.client)) benign.push_back(u.update);
      if (plan.of(u.client).adaptive()) ++f;
    }
    if (f == 0) return;
    if (benign.empty()) {
      spdlog::warn("fl round {}: no benign client sampled; the adaptive attackers send their "
                   "own updates", ctx.round);
    }
    std::map<UpdateAttack, torch::Tensor> crafted;
    for (auto& u : updates) {
      const auto a = plan.of(u.client).update;
      if (!plan.of(u.client).adaptive()) continue;
      if (!benign.empty()) {
        if (!crafted.count(a)) {
          crafted[a] = plan.craft_adaptive(a, torch::stack(benign), static_cast<int>(updates.size()), f);
        }
        u.update = crafted[a].clone();
      }
      if (hooks_.attest) u.attestation = hooks_.attest(ctx, u);
    }
  }

  ClientPool& pool_;
  const ClientHooks& hooks_;
  std::int64_t receivers_ = 0;
};

// FLTrust's root set: root_samples rows of the train set the server holds, fixed by the seed.
torch::Tensor root_rows(const data::Dataset& train, const RunnerOptions& o) {
  const auto n = std::min<std::int64_t>(o.server.root_samples, train.size());
  auto gen = at::detail::createCPUGenerator(derive_seed(o.seed, kSaltRoot));
  return torch::randperm(train.size(), gen, torch::kInt64).slice(0, 0, n);
}

RunResult run_pool(ClientPool& pool, const data::Dataset& train, const data::Dataset& test,
                   const RunnerOptions& o, const std::string& data_description,
                   const RunHooks& hooks) {
  const GlobalModel global{pool.model(), pool.params(), pool.buffers()};
  InProcessSource source(pool, hooks.client);
  RoundEngine engine(global, source, test, o, hooks.server, &pool.plan(), 1);
  torch::Tensor root;
  if (o.server.root_samples > 0) {
    root = root_rows(train, o);
    engine.set_root_update([&pool, root](const RoundContext& ctx) {
      return pool.root_update(root, ctx);
    });
  }
  return engine.run(data_description);
}

// An update message as the simulation counts it: a head of 3 float64 {samples, loss,
// attestation bytes}, then the update and buffers as float32, then the attestation.
constexpr std::int64_t kUpdateHeadBytes = 3 * 8;

// The bytes of the message above for `u`.
std::int64_t update_message_bytes(const ClientUpdate& u) {
  return kUpdateHeadBytes + (u.update.numel() + u.buffers.numel()) * 4 +
         static_cast<std::int64_t>(u.attestation.size());
}

CommBytes per_client_bytes(const RoundContext& ctx, const std::vector<ClientUpdate>& updates,
                           std::int64_t receivers) {
  CommBytes b;
  for (const auto& u : updates) b.up += update_message_bytes(u);
  b.down = receivers * (ctx.global_params.numel() + ctx.global_buffers.numel()) * 4;
  return b;
}

}  // namespace

RunResult run_federated_on(const data::Dataset& train, Partition part, const data::Dataset& test,
                           const RunnerOptions& o, const std::string& data_description,
                           const RunHooks& hooks) {
  o.validate();
  ClientPool pool(train, o, std::move(part), make_attack_plan(o));
  return run_pool(pool, train, test, o, data_description, hooks);
}

RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& o, const std::string& data_description,
                        const RunHooks& hooks) {
  o.validate();
  ClientPool pool(train, o);
  return run_pool(pool, train, test, o, data_description, hooks);
}

}  // namespace tdml::fl
