#include "tdml/fl/runner.h"

#include <ATen/Parallel.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "tdml/data/transforms.h"
#include "tdml/dist/process_group.h"
#include "tdml/ledger/hash.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::fl {
namespace {

nlohmann::json opt_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

struct Eval {
  double accuracy = 0, loss = 0, asr_non_target = 0, asr_all = 0;
};

Eval evaluate(models::Model& model, const data::Dataset& test, const RunnerOptions& o,
              bool backdoor, const AttackOptions& ao) {
  torch::NoGradGuard no_grad;
  model.eval();
  const std::int64_t bs = o.eval_batch_size;
  const std::int64_t n = o.limit_test_batches > 0
                             ? std::min(o.limit_test_batches * bs, test.size())
                             : test.size();
  std::int64_t correct = 0, hit_nt = 0, count_nt = 0, hit_all = 0;
  double loss = 0;
  for (std::int64_t s = 0; s < n; s += bs) {
    const auto e = std::min(n, s + bs);
    auto x = data::normalize(test.images.slice(0, s, e).to(o.device));
    if (o.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto y = test.labels.slice(0, s, e).to(o.device);
    auto forward = [&](const torch::Tensor& in) {
      train::AutocastGuard amp(o.amp, o.device.type());
      return model.forward(in).to(torch::kFloat32);
    };
    auto logits = forward(x);
    loss += torch::nn::functional::cross_entropy(
                logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    correct += (logits.argmax(1) == y).sum().item<std::int64_t>();
    if (backdoor) {
      auto hit = forward(stamp_trigger(x, ao)).argmax(1) == ao.target;
      auto nt = y != ao.target;
      hit_all += hit.sum().item<std::int64_t>();
      hit_nt += (hit & nt).sum().item<std::int64_t>();
      count_nt += nt.sum().item<std::int64_t>();
    }
  }
  Eval r;
  r.accuracy = n ? static_cast<double>(correct) / n : 0;
  r.loss = n ? loss / n : 0;
  r.asr_all = n ? static_cast<double>(hit_all) / n : 0;
  r.asr_non_target = count_nt ? static_cast<double>(hit_nt) / count_nt : 0;
  return r;
}

// Where a round's updates come from: computed here, or received from the client ranks.
class UpdateSource {
 public:
  virtual ~UpdateSource() = default;
  // Calls `got` with each client's update, in client order.
  virtual void collect(const RoundContext& ctx, const std::function<void(ClientUpdate)>& got) = 0;
};

class InProcessSource : public UpdateSource {
 public:
  InProcessSource(ClientPool& pool, const ClientHooks& hooks) : pool_(pool), hooks_(hooks) {}
  void collect(const RoundContext& ctx, const std::function<void(ClientUpdate)>& got) override {
    for (int k = 0; k < pool_.clients(); ++k) got(pool_.run(k, ctx, hooks_));
  }

 private:
  ClientPool& pool_;
  const ClientHooks& hooks_;
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

class RemoteSource : public UpdateSource {
 public:
  RemoteSource(dist::Comm& comm, int clients, std::int64_t d, std::int64_t b)
      : comm_(comm), clients_(clients), d_(d), b_(b) {}
  void collect(const RoundContext& ctx, const std::function<void(ClientUpdate)>& got) override {
    std::vector<torch::Tensor> state{pack_state(ctx)};
    comm_.broadcast(state, 0);
    for (int k = 0; k < clients_; ++k) got(recv_update(comm_, k, d_, b_));
  }

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

// Maps the positions the server saw back to client ids (when some were refused).
void remap_ids(RoundAggregation& a, const std::vector<int>& ids, int clients) {
  auto map = [&](std::vector<int>& v) {
    for (int& x : v) x = ids[x];
  };
  map(a.rejected);
  map(a.flagged);
  map(a.excluded);
  map(a.aggregated);
  map(a.selected);
  map(a.clipped);
  for (auto& s : a.scores) s.client = ids[s.client];
  std::vector<double> norms(clients, std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = 0; i < a.norms.size(); ++i) norms[ids[i]] = a.norms[i];
  a.norms = std::move(norms);
}

nlohmann::json config_json(const RunnerOptions& o, const AttackPlan& plan,
                           const RobustServer& server, int world) {
  return {{"clients", o.clients},
          {"per_client", o.per_client},
          {"partition", o.partition},
          {"dirichlet_alpha", o.dirichlet_alpha},
          {"rounds", o.rounds},
          {"mode", o.local() ? "train" : "gradient"},
          {"server_lr", o.effective_server_lr()},
          {"local_epochs", o.local_epochs},
          {"local_lr", o.client_lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"batch_size", o.batch_size},
          {"augment", o.augment},
          {"amp", train::amp_name(o.amp)},
          {"channels_last", o.channels_last},
          {"eval_trigger", o.eval_trigger},
          {"seed", o.seed},
          {"malicious", plan.malicious_clients()},
          {"attacks", o.attacks},
          {"shift", o.attack.shift},
          {"sigma", o.attack.sigma},
          {"boost", o.attack.boost},
          {"poison_rate", o.attack.poison_rate},
          {"trigger_size", o.attack.trigger_size},
          {"target", o.attack.target},
          {"aggregator", server.rule().name()},
          {"trim", o.server.aggregator.trim},
          {"f", o.server.aggregator.f},
          {"max_norm", o.server.clip_norm},
          {"detect", o.server.detect},
          {"detect_k", o.server.detection.k},
          {"exclude_flagged", o.server.detection.exclude_flagged},
          {"limit_test_batches", o.limit_test_batches},
          {"eval_batch_size", o.eval_batch_size},
          {"processes", world},
          {"threads", at::get_num_threads()}};
}

}  // namespace

int client_rank(int client, int world) {
  TDML_CHECK(world >= 2, "fl: a multi-process run needs at least 2 ranks (server + clients)");
  return 1 + client % (world - 1);
}

nlohmann::json RoundRecord::to_json() const {
  const auto& a = aggregation;
  nlohmann::json cl = nlohmann::json::array();
  std::map<int, const ClientScore*> score_of;
  for (const auto& s : a.scores) score_of[s.client] = &s;
  auto in = [](const std::vector<int>& v, int x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  nlohmann::json refused = nlohmann::json::array();
  for (const auto& c : clients) {
    nlohmann::json j = {
        {"id", c.id},
        {"attack", c.attack},
        {"malicious", c.attack != "none"},
        {"samples", c.samples},
        {"loss", c.loss},
        {"mean", c.mean},
        {"std", c.std},
        {"norm", c.norm},
        {"refused", c.refused.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.refused)},
        {"rejected", in(a.rejected, c.id)},
        {"clipped", in(a.clipped, c.id)},
        {"flagged", in(a.flagged, c.id)}};
    if (!c.refused.empty()) refused.push_back(c.id);
    if (auto it = score_of.find(c.id); it != score_of.end()) {
      j["distance"] = it->second->distance;
      j["cosine_to_reference"] = it->second->cosine_to_reference;
      j["cosine_to_aggregate"] = it->second->cosine_to_aggregate;
      j["flag_reason"] = it->second->reason;
    }
    cl.push_back(j);
  }
  nlohmann::json j = {{"round", round},
                      {"seconds", seconds},
                      {"client_seconds", client_seconds},
                      {"server_seconds", server_seconds},
                      {"eval_seconds", eval_seconds},
                      {"samples", samples},
                      {"samples_per_s", samples_per_s},
                      {"test_accuracy", test_accuracy},
                      {"test_loss", test_loss},
                      {"clip_ratio", a.clip_ratio},
                      {"refused", refused},
                      {"rejected", a.rejected},
                      {"flagged", a.flagged},
                      {"excluded", a.excluded},
                      {"aggregated", a.aggregated},
                      {"selected", a.selected},
                      {"aggregate_variance", aggregate_variance},
                      {"aggregate_norm", aggregate_norm},
                      {"comm_bytes_up", comm.up},
                      {"comm_bytes_down", comm.down},
                      {"comm_counted", comm_counted},
                      {"comm_mib_up", comm.up / 1048576.0},
                      {"comm_mib_down", comm.down / 1048576.0},
                      {"model_hash", model_hash},
                      {"detection",
                       {{"precision", opt_json(detection.precision)},
                        {"recall", opt_json(detection.recall)},
                        {"true_positives", detection.true_positives},
                        {"false_positives", detection.false_positives},
                        {"false_negatives", detection.false_negatives}}},
                      {"clients", cl}};
  j["backdoor"] = backdoor
                      ? nlohmann::json{{"asr_non_target", asr_non_target}, {"asr_all", asr_all}}
                      : nlohmann::json(nullptr);
  return j;
}

namespace {

// The server's round engine (in-process, or rank 0 of a group): collect, aggregate, step,
// evaluate, record; one RoundRecord a round into metrics.json.
class RoundEngine {
 public:
  RoundEngine(ClientPool& pool, UpdateSource& source, const data::Dataset& test,
              const RunnerOptions& o, const ServerHooks& hooks, int world)
      : pool_(pool), source_(source), test_(test), o_(o), hooks_(hooks), world_(world),
        server_(o.server) {}

  RunResult run(const std::string& data_description) {
    open_metrics(data_description);
    RunResult result;
    try {
      for (int round = 1; round <= o_.rounds; ++round) {
        auto rec = run_round(round);
        if (mf_) {
          mf_->doc()["rounds"].push_back(rec.to_json());
          mf_->doc()["final_model_hash"] = rec.model_hash;
          mf_->flush();
        }
        result.final_model_hash = rec.model_hash;
        result.rounds.push_back(std::move(rec));
      }
      if (mf_) {
        mf_->finish("completed");
        result.json = mf_->doc();
        spdlog::info("metrics: {}", mf_->path());
      }
    } catch (const std::exception& e) {
      if (mf_) mf_->finish("failed", e.what());
      throw;
    }
    return result;
  }

 private:
  // Updates as received, and the admitted ones as aggregation takes them.
  struct Collected {
    std::vector<ClientUpdate> updates;
    std::vector<torch::Tensor> admitted;
    std::vector<double> weights;
    std::vector<int> ids;
  };

  void open_metrics(const std::string& data_description) {
    const auto& params = pool_.params();
    const auto& buffers = pool_.buffers();
    if (!o_.out_dir.empty()) {
      mf_ = std::make_unique<metrics::MetricsFile>(o_.out_dir, "fl");
      util::add_log_file(o_.out_dir + "/fl.log");
      auto& d = mf_->doc();
      d["data"] = data_description;
      d["model"] = {
          {"name", o_.model}, {"parameters", params.numel()}, {"buffers", buffers.numel()}};
      d["config"] = config_json(o_, pool_.plan(), server_, world_);
      d["rounds"] = nlohmann::json::array();
      mf_->flush();
    }
    spdlog::info("fl: {} clients ({} malicious: {}), {} mode, rule {}, clip {}, {} params, {}",
                 o_.clients, pool_.plan().malicious_clients().size(), o_.attacks,
                 o_.local() ? "train" : "gradient", server_.rule().name(), o_.server.clip_norm,
                 params.numel(),
                 world_ > 1 ? std::to_string(world_) + " processes" : "in-process");
  }

  RoundRecord run_round(int round) {
    util::Stopwatch round_watch;
    RoundRecord rec;
    rec.round = round;
    const RoundContext ctx{round, pool_.params().flatten(), pool_.buffers().flatten()};
    // 1-3. Collect every client's update; the admit hook may refuse some.
    auto c = collect(ctx, rec);
    // 4-5. Robust aggregation, the server step, the buffers' median.
    aggregate(ctx, c, rec);
    // 6. Evaluation.
    evaluate_round(rec);
    rec.seconds = round_watch.seconds();
    rec.samples_per_s = rec.client_seconds > 0 ? rec.samples / rec.client_seconds : 0;
    log_round(rec);
    if (hooks_.on_round) hooks_.on_round(ctx, rec, c.updates);
    return rec;
  }

  Collected collect(const RoundContext& ctx, RoundRecord& rec) {
    Collected c;
    util::Stopwatch client_watch;
    util::Progress progress(
        "round " + std::to_string(ctx.round) + "/" + std::to_string(o_.rounds), o_.clients, "img");
    source_.collect(ctx, [&](ClientUpdate u) {
      const auto st = update_stats(u.update);
      ClientRecord cr{u.client, pool_.plan().of(u.client).to_string(), u.samples, u.loss,
                      st.mean,  st.std,                                st.norm,   ""};
      if (hooks_.admit) cr.refused = hooks_.admit(ctx, u);
      if (cr.refused.empty()) {
        c.admitted.push_back(u.update.to(o_.device));
        c.weights.push_back(static_cast<double>(u.samples));
        c.ids.push_back(u.client);
      } else {
        spdlog::warn("fl round {}: client {} refused: {}", ctx.round, u.client, cr.refused);
      }
      const auto n = u.samples * (o_.local() ? o_.local_epochs : 1);
      rec.samples += n;
      progress.tick(1, n);
      rec.clients.push_back(cr);
      c.updates.push_back(std::move(u));
    });
    progress.finish();
    rec.client_seconds = client_watch.seconds();
    if (c.admitted.empty()) {
      throw Error("fl round " + std::to_string(ctx.round) + ": every update refused");
    }
    return c;
  }

  void aggregate(const RoundContext& ctx, const Collected& c, RoundRecord& rec) {
    const auto& params = pool_.params();
    const auto& buffers = pool_.buffers();
    util::Stopwatch server_watch;
    rec.aggregation = server_.aggregate(c.admitted, c.weights);
    auto& agg = rec.aggregation;
    remap_ids(agg, c.ids, o_.clients);
    const double server_lr = o_.effective_server_lr();
    params.assign(ctx.global_params);
    params.add(agg.update, o_.local() ? server_lr : -server_lr);
    if (buffers.numel() > 0) {
      std::vector<torch::Tensor> kept;
      for (int k : agg.aggregated) kept.push_back(c.updates[k].buffers.to(o_.device));
      auto stacked = torch::stack(kept);
      buffers.assign(std::get<0>(stacked.kthvalue((stacked.size(0) - 1) / 2 + 1, 0)));
    }
    auto detected = agg.flagged;
    detected.insert(detected.end(), agg.rejected.begin(), agg.rejected.end());
    rec.detection = detection_quality(detected, pool_.plan().malicious_clients());
    rec.aggregate_variance = aggregate_variance(agg.update);
    rec.aggregate_norm = agg.update.norm().item<double>();
    // What was sent: every update message up (head, update, buffers, signature); the global
    // state down, once to each receiving process (each simulated client in-process; each
    // client rank over c10d, whose broadcast reaches a rank once for all its clients).
    rec.comm = {};
    for (const auto& u : c.updates) rec.comm.up += update_message_bytes(u);
    rec.comm.down = static_cast<std::int64_t>(world_ > 1 ? world_ - 1 : o_.clients) *
                    (params.numel() + buffers.numel()) * 4;
    rec.comm_counted = world_ > 1 ? "per_rank" : "per_client";
    rec.model_hash = ledger::model_hash(models::state_dict(pool_.model()));
    rec.server_seconds = server_watch.seconds();
  }

  void evaluate_round(RoundRecord& rec) {
    util::Stopwatch eval_watch;
    const auto& plan = pool_.plan();
    const bool trigger = plan.any_backdoor() || o_.eval_trigger;
    auto ev = evaluate(pool_.model(), test_, o_, trigger, plan.options());
    rec.eval_seconds = eval_watch.seconds();
    rec.test_accuracy = ev.accuracy;
    rec.test_loss = ev.loss;
    rec.backdoor = trigger;
    rec.asr_non_target = ev.asr_non_target;
    rec.asr_all = ev.asr_all;
  }

  void log_round(const RoundRecord& rec) const {
    const auto& agg = rec.aggregation;
    spdlog::info(
        "fl round {}/{}: acc {:.4f}{} | clip {:.2f} flagged [{}] rejected [{}]{} | "
        "{:.1f} s ({:.0f} samples/s)",
        rec.round, o_.rounds, rec.test_accuracy,
        rec.backdoor ? fmt::format(" asr {:.3f}", rec.asr_non_target) : "", agg.clip_ratio,
        fmt::join(agg.flagged, ","), fmt::join(agg.rejected, ","),
        rec.detection.precision || rec.detection.recall
            ? fmt::format(" P {:.2f} R {:.2f}", rec.detection.precision.value_or(0),
                          rec.detection.recall.value_or(0))
            : "",
        rec.seconds, rec.samples_per_s);
  }

  ClientPool& pool_;
  UpdateSource& source_;
  const data::Dataset& test_;
  const RunnerOptions& o_;
  const ServerHooks& hooks_;
  int world_;
  RobustServer server_;
  std::unique_ptr<metrics::MetricsFile> mf_;
};

}  // namespace

RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& o, const std::string& data_description,
                        const RunHooks& hooks, std::shared_ptr<dist::Comm> comm) {
  o.validate();
  ClientPool pool(train, o);
  if (!comm) {
    InProcessSource source(pool, hooks.client);
    return RoundEngine(pool, source, test, o, hooks.server, 1).run(data_description);
  }
  if (comm->world() < 2)
    throw UsageError("fl: --nproc needs at least 2 processes (server + clients)");
  if (comm->rank() != 0) {
    run_client_rank(pool, o, hooks.client, *comm);
    return {};
  }
  RemoteSource source(*comm, o.clients, pool.params().numel(), pool.buffers().numel());
  return RoundEngine(pool, source, test, o, hooks.server, comm->world()).run(data_description);
}

}  // namespace tdml::fl
