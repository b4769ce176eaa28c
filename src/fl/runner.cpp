#include "tdml/fl/runner.h"

#include "tdml/fl/round_engine.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

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
    for (int k : sampled) got(pool_.run(k, ctx, hooks_));
    receivers_ = static_cast<std::int64_t>(sampled.size());
    return {};
  }
  CommBytes bytes(const RoundContext& ctx, const std::vector<ClientUpdate>& updates) override {
    return per_client_bytes(ctx, updates, receivers_);
  }
  std::string counted() const override { return "per_client"; }

 private:
  ClientPool& pool_;
  const ClientHooks& hooks_;
  std::int64_t receivers_ = 0;
};

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
  const GlobalModel global{pool.model(), pool.params(), pool.buffers()};
  InProcessSource source(pool, hooks.client);
  return RoundEngine(global, source, test, o, hooks.server, &pool.plan(), 1)
      .run(data_description);
}

RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& o, const std::string& data_description,
                        const RunHooks& hooks) {
  o.validate();
  ClientPool pool(train, o);
  const GlobalModel global{pool.model(), pool.params(), pool.buffers()};
  InProcessSource source(pool, hooks.client);
  return RoundEngine(global, source, test, o, hooks.server, &pool.plan(), 1)
      .run(data_description);
}

}  // namespace tdml::fl
