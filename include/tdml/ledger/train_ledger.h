#pragma once
#include <map>
#include <utility>
// `tdml train --ledger FILE`: the ledger observes the trainer (train/observer.h) and appends one
// signed block per epoch (kind "train_epoch": mode, epoch, model_hash, config_hash, metrics),
// after the checkpoint is saved. The epoch's metrics.json record gets "ledger_block" (the
// block's hash) and the document gets {"ledger": {"path", "keys"}}. Keys as in run_ledger.h.
// Errors: tdml::UsageError (unknown scheme) from validate(); tdml::Error from on_start when the
// keys or the ledger cannot be opened.
#include <memory>
#include <string>

#include "tdml/ledger/run_ledger.h"
#include "tdml/train/observer.h"

namespace tdml::ledger {

struct TrainLedgerOptions {
  std::string path;                // ledger file ("" = no ledger)
  std::string keys_dir;            // existing key directory ("" = fresh keys in fresh_keys_dir)
  std::string scheme = "ed25519";  // fresh keys: "ed25519" or "hmac"
  std::string fresh_keys_dir;      // usually RUN_DIR/keys
  bool resume = false;             // a resumed run continues its ledger (else a new one only)
};

// Throws tdml::UsageError naming the option (--sign) when the scheme is unknown.
void validate(const TrainLedgerOptions& options);

class TrainLedger : public train::TrainObserver {
 public:
  explicit TrainLedger(TrainLedgerOptions options);
  // Opens the keys and the ledger (continuing its chain on resume); hashes doc["config"].
  void on_start(nlohmann::json& doc) override;
  // Appends the epoch's block. A resumed run that trains an epoch the ledger already holds (it
  // resumed from a step checkpoint before that epoch's end) appends nothing when the model is
  // the one recorded (the rerun is bit-identical), and fails when it is not.
  void on_epoch_end(const train::EpochEnd& epoch) override;

 private:
  TrainLedgerOptions options_;
  RunLedger run_;
  std::string mode_;
  std::string config_hash_;
  // The epochs the ledger held when it was opened: epoch -> (model hash, block hash).
  std::map<std::int64_t, std::pair<std::string, std::string>> recorded_;
};

}  // namespace tdml::ledger
