#include "tdml/ledger/train_ledger.h"

#include <filesystem>

#include "chain.h"
#include "tdml/ledger/hash.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"

namespace tdml::ledger {

void validate(const TrainLedgerOptions& o) {
  if (o.scheme != "ed25519" && o.scheme != "hmac") {
    throw UsageError("--sign " + o.scheme + ": expected ed25519 or hmac");
  }
}

TrainLedger::TrainLedger(TrainLedgerOptions options) : options_(std::move(options)) {
  validate(options_);
}

void TrainLedger::on_start(nlohmann::json& doc) {
  RunLedgerOptions lo;
  lo.path = options_.path;
  lo.keys_dir = options_.keys_dir;
  lo.scheme = options_.scheme;
  lo.fresh_keys_dir = options_.fresh_keys_dir;
  lo.resume = options_.resume;
  lo.run_kind = "train";
  config_hash_ = config_hash(doc.at("config"));
  lo.config_hash = config_hash_;
  run_ = open_run_ledger(lo);
  if (options_.resume && std::filesystem::exists(options_.path)) {
    for (const auto& line : detail::split_lines(util::read_file(options_.path)).complete) {
      detail::Block b;
      if (!detail::check_block(line, b).empty() || b.body.value("kind", "") != kEpochKind) continue;
      recorded_[b.body.value("epoch", std::int64_t{-1})] = {b.body.value("model_hash", ""), b.hash};
    }
  }
  mode_ = doc.at("run").value("mode", "single");
  doc["ledger"] = {{"path", options_.path}, {"keys", run_.keys_dir}};
}

void TrainLedger::on_epoch_end(const train::EpochEnd& e) {
  TDML_CHECK(run_.ledger, "train ledger: on_epoch_end before on_start");
  EpochRecord block{mode_, e.epoch, model_hash(models::state_dict(e.model)), config_hash_,
                    e.record};
  if (auto it = recorded_.find(e.epoch); it != recorded_.end()) {
    if (it->second.first != block.model_hash) {
      throw Error("ledger " + options_.path + " already holds epoch " + std::to_string(e.epoch) +
                  " with another model (" + it->second.first + ", now " + block.model_hash +
                  "): the resumed run did not retrace the recorded one");
    }
    spdlog::info("ledger: epoch {} is already block {} (same model), not appended again",
                 e.epoch, it->second.second.substr(0, 12));
    e.record["ledger_block"] = it->second.second;
    return;
  }
  e.record["ledger_block"] = run_.ledger->append(block);
}

}  // namespace tdml::ledger
