#include "tdml/fl/runner.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "tdml/fl/round_engine.h"
#include "tdml/dist/process_group.h"
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

// Wire format of one update, client rank -> rank 0, tags 3k, 3k+1, 3k+2:
//   float64 [3] {samples, loss, attestation bytes}; float32 [d + b] {update, buffers};
//   uint8 [attestation bytes] when non-empty.
constexpr int kTagsPerClient = 3;
constexpr std::int64_t kUpdateHeadBytes = 3 * 8;

// The bytes send_update puts on the wire for `u`: head, body and attestation.
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

void send_update(dist::Comm& comm, const ClientUpdate& u) {
  auto head = torch::tensor(
      {static_cast<double>(u.samples), u.loss, static_cast<double>(u.attestation.size())},
      torch::kFloat64);
  comm.send(head, 0, kTagsPerClient * u.client);
  auto body = torch::cat({u.update.to(torch::kFloat32).cpu(), u.buffers.to(torch::kFloat32).cpu()});
  comm.send(body, 0, kTagsPerClient * u.client + 1);
  if (!u.attestation.empty()) {
    auto att = torch::empty({static_cast<std::int64_t>(u.attestation.size())}, torch::kUInt8);
    std::memcpy(att.data_ptr(), u.attestation.data(), u.attestation.size());
    comm.send(att, 0, kTagsPerClient * u.client + 2);
  }
}

ClientUpdate recv_update(dist::Comm& comm, int k, std::int64_t d, std::int64_t b) {
  const int src = client_rank(k, comm.world());
  auto head = torch::empty({3}, torch::kFloat64);
  comm.recv(head, src, kTagsPerClient * k);
  auto body = torch::empty({d + b}, torch::kFloat32);
  comm.recv(body, src, kTagsPerClient * k + 1);
  ClientUpdate u;
  u.client = k;
  u.samples = static_cast<std::int64_t>(head[0].item<double>());
  u.loss = head[1].item<double>();
  u.update = body.slice(0, 0, d);
  u.buffers = body.slice(0, d, d + b);
  if (const auto len = static_cast<std::int64_t>(head[2].item<double>()); len > 0) {
    auto att = torch::empty({len}, torch::kUInt8);
    comm.recv(att, src, kTagsPerClient * k + 2);
    u.attestation.assign(static_cast<const char*>(att.data_ptr()), len);
  }
  return u;
}

// The global state as one tensor (what rank 0 broadcasts).
torch::Tensor pack_state(const RoundContext& ctx) {
  return torch::cat({ctx.global_params.cpu(), ctx.global_buffers.cpu()});
}

// c10d ranks: every client takes part in every round (a group has a fixed world).
class RemoteSource : public UpdateSource {
 public:
  RemoteSource(dist::Comm& comm, int clients, std::int64_t d, std::int64_t b)
      : comm_(comm), clients_(clients), d_(d), b_(b) {}
  std::vector<int> available(int) override { return all_clients(clients_); }
  Missing collect(const RoundContext& ctx, const std::vector<int>&,
                  const std::function<void(ClientUpdate)>& got) override {
    std::vector<torch::Tensor> state{pack_state(ctx)};
    comm_.broadcast(state, 0);
    for (int k = 0; k < clients_; ++k) got(recv_update(comm_, k, d_, b_));
    return {};
  }
  // The state is broadcast once to each client rank, which holds all its clients.
  CommBytes bytes(const RoundContext& ctx, const std::vector<ClientUpdate>& updates) override {
    return per_client_bytes(ctx, updates, comm_.world() - 1);
  }
  std::string counted() const override { return "per_rank"; }

 private:
  dist::Comm& comm_;
  int clients_;
  std::int64_t d_, b_;
};

// Client ranks: each round, receive the global state, run this rank's clients, send updates.
void run_client_rank(ClientPool& pool, const RunnerOptions& o, const ClientHooks& hooks,
                     dist::Comm& comm) {
  const auto d = pool.params().numel(), b = pool.buffers().numel();
  std::vector<int> mine;
  for (int k = 0; k < o.clients; ++k) {
    if (client_rank(k, comm.world()) == comm.rank()) mine.push_back(k);
  }
  spdlog::info("fl rank {}: clients {}", comm.rank(), fmt::join(mine, ","));
  for (int round = 1; round <= o.rounds; ++round) {
    std::vector<torch::Tensor> state{torch::empty({d + b}, torch::kFloat32)};
    comm.broadcast(state, 0);
    RoundContext ctx{round, state[0].slice(0, 0, d).to(o.device),
                     state[0].slice(0, d, d + b).to(o.device)};
    for (int k : mine) send_update(comm, pool.run(k, ctx, hooks));
  }
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

int client_rank(int client, int world) {
  TDML_CHECK(world >= 2, "fl: a multi-process run needs at least 2 ranks (server + clients)");
  return 1 + client % (world - 1);
}

RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& o, const std::string& data_description,
                        const RunHooks& hooks, std::shared_ptr<dist::Comm> comm) {
  o.validate();
  ClientPool pool(train, o);
  const GlobalModel global{pool.model(), pool.params(), pool.buffers()};
  if (!comm) {
    InProcessSource source(pool, hooks.client);
    return RoundEngine(global, source, test, o, hooks.server, &pool.plan(), 1)
        .run(data_description);
  }
  if (comm->world() < 2)
    throw UsageError("fl: --nproc needs at least 2 processes (server + clients)");
  if (o.clients_per_round > 0 && o.clients_per_round < o.clients) {
    throw UsageError("fl: --clients-per-round needs the in-process run or `tdml fl server` "
                     "(c10d ranks take part in every round)");
  }
  if (comm->rank() != 0) {
    run_client_rank(pool, o, hooks.client, *comm);
    return {};
  }
  RemoteSource source(*comm, o.clients, pool.params().numel(), pool.buffers().numel());
  return RoundEngine(global, source, test, o, hooks.server, &pool.plan(), comm->world())
      .run(data_description);
}

}  // namespace tdml::fl
