#pragma once
// The records a ledger block holds. The FL runner fills a RoundRecord per round, the trainer an
// EpochRecord per epoch; Ledger::append adds index, previous hash, timestamp, hash and the
// server's signature. to_json gives the block body (without those chain fields).
//
// FL block body (kind "fl_round"), keys as written (canonical JSON sorts them):
//   round, model_before, model_after, aggregator {name, params}, metrics {...},
//   clients [{id, update_hash, samples, signature, status, norm, score, reason?}] (one entry per
//   sampled client: sampled [ids]), run_id
// Train block body (kind "train_epoch"): mode, epoch, model_hash, config_hash, metrics {...}.
// Non-finite numbers (NaN, inf) are stored as the strings "NaN", "Infinity", "-Infinity".
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tdml::ledger {

// What the server did with a client's update.
enum class UpdateStatus {
  kAccepted,  // aggregated as sent
  kClipped,   // aggregated after norm clipping
  kFlagged,   // flagged by detection and left out of (or down-weighted in) the aggregate
  kRejected,  // not aggregated: validly signed, but NaN/Inf (the signature must verify)
  kRefused,   // not aggregated: its signature is missing or does not verify; the entry keeps
              // the claim and signature received, and verify confirms they really fail
  kLate,      // sampled, but its update missed the round's deadline (nothing to check)
  kDropped,   // sampled, but it disconnected before sending (nothing to check)
};
// "accepted", "clipped", "flagged", "rejected", "refused", "late", "dropped"
std::string status_name(UpdateStatus s);
UpdateStatus parse_status(const std::string& name);  // throws tdml::Error on other names

struct ClientEntry {
  std::string id;            // key id, "client-<i>"
  std::string update_hash;   // model_hash() of the update (hex); what the client signed
  std::int64_t samples = 0;  // sample count the client claimed
  std::string signature;     // the client's signature (hex) as received; empty when missing
  UpdateStatus status = UpdateStatus::kAccepted;
  double norm = 0.0;   // L2 norm of the update
  double score = 0.0;  // detection score (aggregator/detector specific; 0 when none)
  std::string reason;  // why clipped/flagged/rejected; omitted when empty
};

struct RoundRecord {
  std::int64_t round = 0;    // FL round, from 1 (or 0) as the runner numbers them
  std::string model_before;  // model_hash() of the global model sent to clients
  std::string model_after;   // model_hash() of the aggregated global model
  std::string aggregator;    // "fedavg", "median", "trimmed_mean", "krum", ...
  nlohmann::json aggregator_params = nlohmann::json::object();  // e.g. {"trim":0.1}
  std::vector<ClientEntry> clients;                             // every client sampled
  std::string run_id;            // the federation's run id (in every client claim); "" = none
  std::vector<std::string> sampled;  // the clients sent the round ([] = not recorded)
  nlohmann::json metrics = nlohmann::json::object();  // e.g. {"test_acc":0.51,"round_s":3.2}
};

struct EpochRecord {
  std::string mode;         // "single", "ddp" or "pipeline"
  std::int64_t epoch = 0;   // epoch number
  std::string model_hash;   // model_hash() of the state dict after the epoch
  std::string config_hash;  // config_hash() of the run's configuration
  nlohmann::json metrics = nlohmann::json::object();  // e.g. {"loss":1.2,"test_acc":0.53}
};

inline constexpr const char kRoundKind[] = "fl_round";
inline constexpr const char kEpochKind[] = "train_epoch";

nlohmann::json to_json(const ClientEntry& c);
nlohmann::json to_json(const RoundRecord& r);
nlohmann::json to_json(const EpochRecord& e);
ClientEntry client_entry_from_json(const nlohmann::json& j);  // throws tdml::Error if malformed

// Replaces non-finite floats (recursively) by "NaN" / "Infinity" / "-Infinity".
nlohmann::json finite_json(const nlohmann::json& j);

}  // namespace tdml::ledger
