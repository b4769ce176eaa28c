#include "tdml/fl/round_engine.h"

#include <ATen/Parallel.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "fl/seed.h"
#include "tdml/data/transforms.h"
#include "tdml/fl/dp.h"
#include "tdml/ledger/hash.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "tdml/util/system.h"
#include "util/timer.h"

namespace tdml::fl {
namespace {

constexpr std::uint64_t kSaltSample = 0x7361;     // "sa"
constexpr std::uint64_t kSaltAggregate = 0x6167;  // "ag"

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

nlohmann::json config_json(const RunnerOptions& o, const AttackPlan* plan,
                           const RobustServer& server, int world) {
  return {{"clients", o.clients},
          {"per_client", o.per_client},
          {"partition", o.partition},
          {"dirichlet_alpha", o.dirichlet_alpha},
          {"dirichlet_rows", o.dirichlet_rows},
          {"rounds", o.rounds},
          {"clients_per_round", o.clients_per_round},
          {"min_clients", o.min_clients},
          {"max_round_retries", o.max_round_retries},
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
          {"malicious", plan ? nlohmann::json(plan->malicious_clients()) : nlohmann::json("unknown")},
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
          {"bucketing", o.server.bucketing},
          {"cclip_tau", o.server.aggregator.cclip_tau},
          {"cclip_iterations", o.server.aggregator.cclip_iterations},
          {"root_samples", o.server.root_samples},
          {"server_opt", o.server_opt.name},
          {"server_momentum", o.server_opt.momentum},
          {"prox_mu", o.prox_mu},
          {"alie_z", o.attack.alie_z},
          {"ipm_eps", o.attack.ipm_eps},
          {"dp",
           o.server.dp.enabled()
               ? nlohmann::json{{"mode", o.server.dp.local ? "local" : "central"},
                                {"clip", o.server.dp.clip},
                                {"noise_multiplier", o.server.dp.noise},
                                {"delta", o.server.dp.delta},
                                {"adaptive_clip", o.server.dp.adaptive},
                                {"target_quantile", o.server.dp.target_quantile},
                                {"clip_lr", o.server.dp.clip_lr},
                                {"count_noise", o.server.dp.count_noise}}
               : nlohmann::json(nullptr)},
          {"detect", o.server.detect},
          {"detect_k", o.server.detection.k},
          {"exclude_flagged", o.server.detection.exclude_flagged},
          {"limit_test_batches", o.limit_test_batches},
          {"eval_batch_size", o.eval_batch_size},
          {"eval_every", o.eval_every},
          {"processes", world},
          {"threads", at::get_num_threads()}};
}

}  // namespace

std::vector<int> sample_clients(const std::vector<int>& available, int k, std::uint64_t seed,
                                int round, int attempt) {
  const auto n = static_cast<std::int64_t>(available.size());
  if (k <= 0 || k >= n) return available;
  auto gen = at::detail::createCPUGenerator(derive_seed(seed, kSaltSample, round, attempt));
  auto perm = torch::randperm(n, gen, torch::kInt64);
  std::vector<int> picked;
  for (int i = 0; i < k; ++i) picked.push_back(available[perm[i].item<std::int64_t>()]);
  std::sort(picked.begin(), picked.end());
  return picked;
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
        {"malicious", c.attack == "unknown" ? nlohmann::json(nullptr) : nlohmann::json(c.attack != "none")},
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
                      {"evaluated", evaluated},
                      {"test_accuracy", evaluated ? nlohmann::json(test_accuracy) : nullptr},
                      {"test_loss", evaluated ? nlohmann::json(test_loss) : nullptr},
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
                      {"rss_mib", static_cast<double>(util::current_rss_bytes()) / 1048576.0},
                      {"sampled", sampled},
                      {"late", late},
                      {"dropped", dropped},
                      {"attempts", attempts},
                      {"transport_seconds", transport_seconds},
                      {"client_compute_seconds", client_compute_seconds},
                      {"detection",
                       {{"precision", opt_json(detection.precision)},
                        {"recall", opt_json(detection.recall)},
                        {"true_positives", detection.true_positives},
                        {"false_positives", detection.false_positives},
                        {"false_negatives", detection.false_negatives}}},
                      {"clients", cl}};
  j["backdoor"] = backdoor && evaluated
                      ? nlohmann::json{{"asr_non_target", asr_non_target}, {"asr_all", asr_all}}
                      : nlohmann::json(nullptr);
  j["privacy"] = privacy.on ? nlohmann::json{{"mode", privacy.mode},
                                             {"epsilon", privacy.epsilon},
                                             {"delta", privacy.delta},
                                             {"order", privacy.order},
                                             {"q", privacy.q},
                                             {"noise_multiplier", privacy.sigma},
                                             {"clip", privacy.clip},
                                             {"noise_std", privacy.noise_std},
                                             {"unclipped_fraction", a.dp.unclipped_fraction},
                                             {"next_clip", a.dp.next_clip}}
                            : nlohmann::json(nullptr);
  j["adaptive_attackers"] = adaptive;
  j["buckets"] = a.buckets;
  j["iterations"] = a.iterations;
  return j;
}

// Updates as received, and the admitted ones as aggregation takes them.
namespace {
std::string result_hash_of(const nlohmann::json& rounds) {
  return rounds.empty() ? std::string() : rounds.back().value("model_hash", std::string());
}
}  // namespace

struct RoundEngine::Collected {
  std::vector<ClientUpdate> updates;
  std::vector<torch::Tensor> admitted;
  std::vector<double> weights;
  std::vector<int> ids;
};

RoundEngine::RoundEngine(GlobalModel global, UpdateSource& source, const data::Dataset& test,
                         const RunnerOptions& o, const ServerHooks& hooks, const AttackPlan* plan,
                         int world)
    : global_(global), hash_(global.model), source_(source), test_(test), o_(o), hooks_(hooks), plan_(plan),
      world_(world), server_(o.server), optimizer_(o.server_opt) {}

void RoundEngine::set_root_update(std::function<torch::Tensor(const RoundContext&)> root) {
  root_ = std::move(root);
}

RoundEngine::StepState RoundEngine::step_state() const {
  return {previous_, optimizer_.state(), dp_clip_};
}

void RoundEngine::load_step_state(StepState s) {
  previous_ = s.previous.defined() ? s.previous.to(o_.device) : torch::Tensor();
  for (auto& m : s.moments) m = m.to(o_.device);
  optimizer_.load_state(std::move(s.moments));
  dp_clip_ = s.dp_clip;
}

RoundEngine::~RoundEngine() = default;

void RoundEngine::resume_after(int completed, nlohmann::json rounds) {
  TDML_CHECK(completed >= 0 && completed <= o_.rounds, "fl: cannot resume after round "
                                                           << completed);
  completed_ = completed;
  prior_rounds_ = rounds.is_array() ? std::move(rounds) : nlohmann::json::array();
}

RunResult RoundEngine::run(const std::string& data_description,
                           const nlohmann::json& extra_config) {
  open_metrics(data_description, extra_config);
  RunResult result;
  try {
    if (!prior_rounds_.empty()) {
      result.final_model_hash = prior_rounds_.back().value("model_hash", "");
    }
    for (int round = completed_ + 1; round <= o_.rounds; ++round) {
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

std::string RoundEngine::attack_of(int client) const {
  return plan_ ? plan_->of(client).to_string() : "unknown";
}

void RoundEngine::open_metrics(const std::string& data_description,
                               const nlohmann::json& extra_config) {
  const auto& params = global_.params;
  const auto& buffers = global_.buffers;
  if (!o_.out_dir.empty()) {
    mf_ = std::make_unique<metrics::MetricsFile>(o_.out_dir, "fl");
    util::add_log_file(o_.out_dir + "/fl.log");
    auto& d = mf_->doc();
    d["data"] = data_description;
    d["model"] = {
        {"name", o_.model}, {"parameters", params.numel()}, {"buffers", buffers.numel()}};
    d["config"] = config_json(o_, plan_, server_, world_);
    if (extra_config.is_object()) d["config"].update(extra_config);
    d["rounds"] = prior_rounds_;
    if (completed_ > 0) {
      d["resumed_after_round"] = completed_;
      d["final_model_hash"] = result_hash_of(prior_rounds_);
    }
    mf_->flush();
  }
  spdlog::info("fl: {} clients ({} malicious: {}), {} mode, rule {}, clip {}, {} params, {}",
               o_.clients,
               plan_ ? std::to_string(plan_->malicious_clients().size()) : std::string("unknown"),
               plan_ ? o_.attacks : std::string("chosen by the clients"),
               o_.local() ? "train" : "gradient", server_.rule().name(), o_.server.clip_norm,
               params.numel(), source_.counted() == "wire" ? std::string("network") :
               world_ > 1 ? std::to_string(world_) + " processes" : std::string("in-process"));
}

RoundRecord RoundEngine::run_round(int round) {
  util::Stopwatch round_watch;
  RoundRecord rec;
  rec.round = round;
  RoundContext ctx{round, global_.params.flatten(), global_.buffers.flatten(), ""};
  ctx.model_hash = hash_(ctx.global_params, ctx.global_buffers);
  // 1-4. Sample, collect, admit; retried while short of min_clients.
  auto c = collect(ctx, rec);
  // 5. Robust aggregation, the server step, the buffers' median, evaluation.
  aggregate(ctx, c, rec);
  if (round % o_.eval_every == 0 || round == o_.rounds) evaluate_round(rec);
  rec.seconds = round_watch.seconds();
  rec.samples_per_s = rec.client_seconds > 0 ? rec.samples / rec.client_seconds : 0;
  log_round(rec);
  if (hooks_.on_round) hooks_.on_round(ctx, rec, c.updates);
  return rec;
}

RoundEngine::Collected RoundEngine::collect(const RoundContext& ctx, RoundRecord& rec) {
  for (int attempt = 0;; ++attempt) {
    const auto available = source_.available(ctx.round);
    rec = RoundRecord{};
    rec.round = ctx.round;
    rec.attempts = attempt + 1;
    rec.sampled = sample_clients(available, o_.clients_per_round, o_.seed, ctx.round, attempt);
    auto c = collect_once(ctx, rec.sampled, rec);
    const auto got = static_cast<int>(c.admitted.size());
    if (got >= std::max(1, o_.min_clients)) return c;
    const std::string why = "fl round " + std::to_string(ctx.round) + ": " +
                            std::to_string(got) + " valid update(s) of the " +
                            std::to_string(std::max(1, o_.min_clients)) + " needed (sampled " +
                            std::to_string(rec.sampled.size()) + ", late " +
                            std::to_string(rec.late.size()) + ", dropped " +
                            std::to_string(rec.dropped.size()) + ")";
    if (attempt >= o_.max_round_retries) {
      throw Error(why + " after " + std::to_string(attempt + 1) +
                  " attempt(s): quorum not met (--min-clients, --max-round-retries)");
    }
    spdlog::warn("{}: retrying with a new sample ({}/{})", why, attempt + 1,
                 o_.max_round_retries);
  }
}

RoundEngine::Collected RoundEngine::collect_once(const RoundContext& ctx,
                                                 const std::vector<int>& sampled,
                                                 RoundRecord& rec) {
  Collected c;
  util::Stopwatch client_watch;
  util::Progress progress(
      "round " + std::to_string(ctx.round) + "/" + std::to_string(o_.rounds),
      static_cast<std::int64_t>(sampled.size()), "img");
  const auto missing = source_.collect(ctx, sampled, [&](ClientUpdate u) {
    const auto st = update_stats(u.update);
    ClientRecord cr{u.client, attack_of(u.client), u.samples, u.loss, st.mean, st.std, st.norm,
                    ""};
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
  rec.late = missing.late;
  rec.dropped = missing.dropped;
  rec.client_seconds = client_watch.seconds();
  rec.transport_seconds = source_.transport_seconds();
  rec.client_compute_seconds = source_.client_compute_seconds();
  for (int k : rec.late) spdlog::warn("fl round {}: client {} late", ctx.round, k);
  for (int k : rec.dropped) spdlog::warn("fl round {}: client {} dropped", ctx.round, k);
  return c;
}

void RoundEngine::aggregate(const RoundContext& ctx, const Collected& c, RoundRecord& rec) {
  const auto& params = global_.params;
  const auto& buffers = global_.buffers;
  util::Stopwatch server_watch;
  AggregationInputs in;
  in.rule.previous = previous_;
  if (server_.rule().needs_root()) {
    TDML_CHECK(root_, server_.rule().name() << ": this transport has no root set");
    in.rule.root = root_(ctx).to(o_.device);
  }
  in.seed = derive_seed(o_.seed, kSaltAggregate, ctx.round);
  in.sampled = static_cast<int>(rec.sampled.size());
  in.dp_clip = dp_clip_;
  rec.aggregation = server_.aggregate(c.admitted, c.weights, in);
  auto& agg = rec.aggregation;
  remap_ids(agg, c.ids, o_.clients);
  const double server_lr = o_.effective_server_lr();
  params.assign(ctx.global_params);
  if (optimizer_.options().name == "sgd") {
    params.add(agg.update, o_.local() ? server_lr : -server_lr);
  } else {
    // The pseudo-gradient points where the clients moved: +delta (train), -gradient.
    params.add(optimizer_.step(o_.local() ? agg.update : -agg.update, server_lr));
  }
  previous_ = agg.update.detach().clone();
  if (agg.dp.on) dp_clip_ = agg.dp.next_clip;
  account_privacy(ctx.round, agg, rec);
  if (plan_) {
    for (int k : rec.sampled) {
      if (plan_->of(k).adaptive()) rec.adaptive.push_back(k);
    }
  }
  if (buffers.numel() > 0) {
    // The updates' positions of the aggregated clients (ids are not positions when sampling).
    std::vector<torch::Tensor> kept;
    for (int k : agg.aggregated) {
      for (const auto& u : c.updates) {
        if (u.client == k) kept.push_back(u.buffers.to(o_.device));
      }
    }
    auto stacked = torch::stack(kept);
    buffers.assign(std::get<0>(stacked.kthvalue((stacked.size(0) - 1) / 2 + 1, 0)));
  }
  if (plan_) {
    auto detected = agg.flagged;
    detected.insert(detected.end(), agg.rejected.begin(), agg.rejected.end());
    rec.detection = detection_quality(detected, plan_->malicious_clients());
  }
  rec.aggregate_variance = aggregate_variance(agg.update);
  rec.aggregate_norm = agg.update.norm().item<double>();
  rec.comm = source_.bytes(ctx, c.updates);
  rec.comm_counted = source_.counted();
  rec.model_hash = hash_(params.flatten(), buffers.flatten());
  rec.server_seconds = server_watch.seconds();
}

void RoundEngine::account_privacy(int round, const RoundAggregation& agg,
                                  RoundRecord& rec) const {
  const auto& dp = o_.server.dp;
  if (!dp.enabled()) return;
  auto& p = rec.privacy;
  p.on = true;
  p.mode = dp.local ? "local" : "central";
  p.sigma = dp.noise;
  p.delta = dp.delta;
  p.clip = dp.local ? dp.clip : agg.dp.clip;
  p.noise_std = dp.local ? dp.noise * dp.clip : agg.dp.noise_std;
  // Central: a client is in a round's sample with probability clients-per-round / clients.
  // Local: the server sees every release of a sampled client, so no amplification (q = 1).
  const int per_round = o_.clients_per_round > 0 && o_.clients_per_round < o_.clients
                            ? o_.clients_per_round
                            : o_.clients;
  p.q = dp.local ? 1.0 : static_cast<double>(per_round) / o_.clients;
  const auto spent = privacy_spent(p.q, p.sigma, round, dp.delta);
  p.epsilon = spent.epsilon;
  p.order = spent.order;
}

void RoundEngine::evaluate_round(RoundRecord& rec) {
  util::Stopwatch eval_watch;
  const bool trigger = (plan_ && plan_->any_backdoor()) || o_.eval_trigger;
  auto ev = evaluate(global_.model, test_, o_, trigger, plan_ ? plan_->options() : o_.attack);
  rec.eval_seconds = eval_watch.seconds();
  rec.evaluated = true;
  rec.test_accuracy = ev.accuracy;
  rec.test_loss = ev.loss;
  rec.backdoor = trigger;
  rec.asr_non_target = ev.asr_non_target;
  rec.asr_all = ev.asr_all;
}

void RoundEngine::log_round(const RoundRecord& rec) const {
  const auto& agg = rec.aggregation;
  spdlog::info(
      "fl round {}/{}: acc {}{} | clip {:.2f} flagged [{}] rejected [{}]{} | "
      "{:.1f} s ({:.0f} samples/s)",
      rec.round, o_.rounds,
      rec.evaluated ? fmt::format("{:.4f}", rec.test_accuracy) : std::string("- (not evaluated)"),
      rec.backdoor && rec.evaluated ? fmt::format(" asr {:.3f}", rec.asr_non_target) : "", agg.clip_ratio,
      fmt::join(agg.flagged, ","), fmt::join(agg.rejected, ","),
      rec.detection.precision || rec.detection.recall
          ? fmt::format(" P {:.2f} R {:.2f}", rec.detection.precision.value_or(0),
                        rec.detection.recall.value_or(0))
          : "",
      rec.seconds, rec.samples_per_s);
}

}  // namespace tdml::fl
