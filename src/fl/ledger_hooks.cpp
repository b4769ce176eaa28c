#include "tdml/fl/ledger_hooks.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "tdml/ledger/block.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/update_signature.h"
#include "tdml/util/error.h"
#include "util/timer.h"

namespace tdml::fl {
namespace {

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }


nlohmann::json aggregator_params(const RunnerOptions& run) {
  const auto& a = run.server.aggregator;
  nlohmann::json p = {{"max_norm", run.server.clip_norm}};
  if (a.rule == "trimmed-mean") p["trim"] = a.trim;
  if (a.rule == "krum" || a.rule == "multi-krum" || a.rule == "bulyan") p["f"] = a.f;
  if (a.rule == "cclip") {
    p["tau"] = a.cclip_tau;
    p["iterations"] = a.cclip_iterations;
  }
  if (a.rule == "fltrust") p["root_samples"] = run.server.root_samples;
  if (run.server.bucketing > 1) p["bucketing"] = run.server.bucketing;
  if (run.server_opt.name != "sgd") p["server_opt"] = run.server_opt.name;
  if (run.server.dp.enabled()) {
    p["dp"] = {{"mode", run.server.dp.local ? "local" : "central"},
               {"clip", run.server.dp.clip},
               {"noise_multiplier", run.server.dp.noise},
               {"adaptive_clip", run.server.dp.adaptive}};
  }
  if (a.rule == "multi-krum") p["m"] = a.multi_krum_m;
  if (a.rule == "median") p["average_middle"] = a.median_average_middle;
  return p;
}

}  // namespace

FlLedger::FlLedger(std::shared_ptr<const ledger::KeyRing> keys, ledger::Ledger* ledger,
                   const RunnerOptions& run, FlLedgerOptions options)
    : keys_(std::move(keys)), ledger_(ledger), run_(run), options_(std::move(options)) {
  if (!options_.forging_clients.empty()) {
    // Fresh keys under the same ids: right names, wrong secrets.
    forgers_ = std::make_shared<const ledger::KeyRing>(
        ledger::KeyRing::generate(keys_->scheme(), *options_.forging_clients.rbegin() + 1));
  }
}

std::string FlLedger::id_of(int client) const {
  return options_.client_id ? options_.client_id(client) : ledger::client_key_id(client);
}

ledger::UpdateClaim FlLedger::claim_of(const ClientUpdate& u, int round,
                                       const std::string& base) const {
  return {id_of(u.client), round, u.samples,
          ledger::tensor_hash(u.update.to(torch::kCPU).contiguous()), base, options_.run_id};
}

std::string FlLedger::base_model_hash(const RoundContext& ctx) {
  TDML_CHECK(!ctx.model_hash.empty(), "round " << ctx.round << ": the context has no model hash");
  return ctx.model_hash;
}

RunHooks FlLedger::hooks() {
  RunHooks h;
  h.client.attest = [this](const RoundContext& c, const ClientUpdate& u) { return attest(c, u); };
  if (ledger_) {
    h.server.admit = [this](const RoundContext& c, const ClientUpdate& u) { return admit(c, u); };
    h.server.on_round = [this](const RoundContext& c, const RoundRecord& r,
                               const std::vector<ClientUpdate>& us) { on_round(c, r, us); };
  }
  return h;
}

std::string FlLedger::attest(const RoundContext& ctx, const ClientUpdate& u) {
  util::Stopwatch w;
  const auto claim = claim_of(u, ctx.round, base_model_hash(ctx));
  const bool forge = options_.forging_clients.count(u.client) > 0;
  std::string sig = forge ? ledger::sign_update(*forgers_->signer(claim.client_id), claim)
                          : ledger::sign_update(*keys_->signer(claim.client_id), claim);
  seconds_ += w.seconds();
  return sig;
}

std::string FlLedger::admit(const RoundContext& ctx, const ClientUpdate& u) {
  util::Stopwatch w;
  if (round_base_round_ != ctx.round) {
    round_base_ = base_model_hash(ctx);
    round_base_round_ = ctx.round;
  }
  std::string why;
  if (u.attestation.empty()) {
    why = "missing signature";
  } else if (!ledger::verify_update_signature(*keys_, claim_of(u, ctx.round, round_base_),
                                              u.attestation)) {
    why = "bad signature";
  }
  seconds_ += w.seconds();
  return why;
}

void FlLedger::on_round(const RoundContext& ctx, const RoundRecord& rec,
                        const std::vector<ClientUpdate>& updates) {
  util::Stopwatch w;
  if (round_base_round_ != ctx.round) round_base_ = base_model_hash(ctx);
  const auto& agg = rec.aggregation;
  ledger::RoundRecord b;
  b.round = rec.round;
  b.model_before = round_base_;
  b.model_after = rec.model_hash;
  b.aggregator = run_.server.aggregator.rule;
  b.aggregator_params = aggregator_params(run_);
  b.run_id = options_.run_id;
  for (int k : rec.sampled) b.sampled.push_back(id_of(k));
  for (std::size_t i = 0; i < updates.size(); ++i) {
    const auto& u = updates[i];
    const auto& cr = rec.clients[i];
    ledger::ClientEntry e;
    e.id = id_of(u.client);
    e.update_hash = ledger::tensor_hash(u.update.to(torch::kCPU).contiguous());
    e.samples = u.samples;
    e.signature = u.attestation;
    e.norm = cr.norm;
    for (const auto& s : agg.scores) {
      if (s.client == u.client) e.score = s.distance;
    }
    if (!cr.refused.empty()) {
      e.status = ledger::UpdateStatus::kRefused;
      e.reason = cr.refused;
    } else if (contains(agg.rejected, u.client)) {
      e.status = ledger::UpdateStatus::kRejected;
      e.reason = "non-finite values";
    } else if (contains(agg.flagged, u.client)) {
      e.status = ledger::UpdateStatus::kFlagged;
      e.reason = contains(agg.excluded, u.client) ? "flagged and excluded" : "flagged";
    } else if (contains(agg.clipped, u.client)) {
      e.status = ledger::UpdateStatus::kClipped;
      e.reason = "clipped to max_norm";
    }
    if (!std::isfinite(e.norm)) e.norm = 0;  // NaN updates: the status says why
    b.clients.push_back(std::move(e));
  }
  for (const auto* missing : {&rec.late, &rec.dropped}) {
    for (int k : *missing) {
      ledger::ClientEntry e;
      e.id = id_of(k);
      e.status = missing == &rec.late ? ledger::UpdateStatus::kLate : ledger::UpdateStatus::kDropped;
      e.reason = missing == &rec.late ? "no update before the round's deadline" : "disconnected";
      b.clients.push_back(std::move(e));
    }
  }
  b.metrics = {{"round_s", rec.seconds},
               {"samples", rec.samples},
               {"clip_ratio", agg.clip_ratio},
               {"aggregate_norm", rec.aggregate_norm}};
  if (rec.evaluated) {  // --eval-every: a round without evaluation claims no accuracy
    b.metrics["test_accuracy"] = rec.test_accuracy;
    b.metrics["test_loss"] = rec.test_loss;
    if (rec.backdoor) b.metrics["asr_non_target"] = rec.asr_non_target;
  }
  if (rec.privacy.on) {
    // The privacy spent after this round, as the accountant computed it (dp.h).
    b.metrics["dp_epsilon"] = rec.privacy.epsilon;
    b.metrics["dp_delta"] = rec.privacy.delta;
    b.metrics["dp_clip"] = rec.privacy.clip;
    b.metrics["dp_noise_std"] = rec.privacy.noise_std;
  }
  const auto index = ledger_->size();
  ledger_->append(b);
  ++blocks_;
  if (options_.on_block) options_.on_block(rec.round, index, b.clients);
  seconds_ += w.seconds();
}

std::unique_ptr<FlLedgerRun> open_fl_ledger(const std::string& path, const std::string& keys_dir,
                                            const std::string& scheme, const RunnerOptions& run,
                                            FlLedgerOptions options) {
  auto r = std::make_unique<FlLedgerRun>();
  {
    ledger::RunLedgerOptions lo;
    lo.path = path;
    lo.keys_dir = keys_dir;
    lo.scheme = scheme;
    lo.fresh_keys_dir = (run.out_dir.empty() ? std::string(".") : run.out_dir) + "/keys";
    lo.clients = run.clients;
    lo.run_kind = "fl";
    lo.config_hash = ledger::config_hash(
        {{"model", run.model}, {"clients", run.clients}, {"rounds", run.rounds},
         {"seed", run.seed}, {"mode", run.mode}, {"aggregator", run.server.aggregator.rule},
         {"attacks", run.attacks}, {"malicious", run.malicious}, {"partition", run.partition},
         {"server_step", server_step_config(run)}});
    r->run = ledger::open_run_ledger(lo);
    // Every client claim names the run (its genesis run id).
    if (options.run_id.empty()) options.run_id = r->run.ledger->run_id();
    r->keys = std::make_shared<const ledger::KeyRing>(r->run.keys);
  }
  for (int c = 0; c < run.clients; ++c) {
    if (!r->keys->has(ledger::client_key_id(c))) {
      throw Error("ledger keys hold no key for " + ledger::client_key_id(c) + " (the run has " +
                  std::to_string(run.clients) + " clients: tdml keys gen --clients " +
                  std::to_string(run.clients) + ")");
    }
  }
  r->ledger = std::make_unique<FlLedger>(r->keys, r->run.ledger.get(), run, std::move(options));
  return r;
}

}  // namespace tdml::fl
