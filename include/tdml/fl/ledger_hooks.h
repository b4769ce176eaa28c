#pragma once
// `tdml fl --ledger`: the run's hooks (runner.h RunHooks) that make every client sign its update,
// the server verify each signature before aggregation, and the server append one signed block
// per round to a tamper-evident ledger (ledger/ledger.h).
//
// What a client signs (ledger/update_signature.h): its key id "client-<i>", the round, its
// sample count, update_hash = SHA-256 of the update's raw float32 bytes (ledger::tensor_hash of
// the flat update, parameters in state-dict order), and base_model = the hash of the global
// model it started from (RoundContext::model_hash: fl/model_hash.h, computed from the vectors
// exactly as received). The server recomputes update_hash from the bytes it
// received, never trusting the client's claim, and refuses (status "refused", keeping the claim
// and signature as evidence) an update whose signature is missing or does not verify with that
// client's key. A validly signed NaN/Inf update is "rejected".
//
// A block (kind "fl_round") holds: round, model_before (the base_model hash above),
// model_after (the same hash of the global model after the round, so the next block's
// model_before equals it; the hash
// `tdml ledger verify --model` compares with a saved model), aggregator {name, params}, every
// client's entry {id, update_hash, samples, signature, status accepted|clipped|flagged|rejected,
// norm, score (distance to the coordinate median), reason} and the round's metrics.
//
// Keys: client hooks need the secrets of the clients they run, the server hooks the server's
// secret and every client's public key (Ed25519) or secret (HMAC). In the simulation one KeyRing
// serves both (one operator holds every key); a federation's parties each hold their own.
// Thread safety: the hooks are called by the runner from one thread.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "tdml/fl/options.h"
#include "tdml/fl/runner.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/run_ledger.h"
#include "tdml/ledger/update_signature.h"

namespace tdml::fl {

struct FlLedgerOptions {
  std::set<int> forging_clients;  // demo/test: these clients sign with a key that is not theirs
  std::string run_id;             // a federation's run id: in every claim and block ("" = none)
  // Key id of client index k ("client-<k>" when empty; a federation's enrolment order).
  std::function<std::string(int)> client_id;
  // Called after a round's block is appended: its index and the accepted clients' entries.
  std::function<void(int round, std::int64_t block_index,
                     const std::vector<ledger::ClientEntry>& entries)>
      on_block;
};

class FlLedger {
 public:
  // keys: as described above. ledger: the open ledger on the server; null where only clients
  // run. Both must outlive the hooks.
  FlLedger(std::shared_ptr<const ledger::KeyRing> keys, ledger::Ledger* ledger,
           const RunnerOptions& run, FlLedgerOptions options = {});

  // Hooks to pass to run_federated.
  RunHooks hooks();

  // Time spent signing, verifying, hashing and appending (seconds) and blocks appended.
  double seconds() const { return seconds_; }
  std::int64_t blocks() const { return blocks_; }

  // The base-model hash clients sign for a round context (see the header comment).
  static std::string base_model_hash(const RoundContext& ctx);

 private:
  std::string attest(const RoundContext& ctx, const ClientUpdate& u);
  ledger::UpdateClaim claim_of(const ClientUpdate& u, int round, const std::string& base) const;
  std::string id_of(int client) const;
  std::string admit(const RoundContext& ctx, const ClientUpdate& u);
  void on_round(const RoundContext& ctx, const RoundRecord& rec,
                const std::vector<ClientUpdate>& updates);

  std::shared_ptr<const ledger::KeyRing> keys_;
  ledger::Ledger* ledger_;
  RunnerOptions run_;
  FlLedgerOptions options_;
  std::shared_ptr<const ledger::KeyRing> forgers_;  // keys nobody registered (forging clients)
  std::string round_base_;                          // base hash of the round being admitted
  int round_base_round_ = -1;
  double seconds_ = 0;
  std::int64_t blocks_ = 0;
};

// Everything `tdml fl --ledger PATH` needs: the keys, the open ledger and the hooks.
struct FlLedgerRun {
  ledger::RunLedger run;                        // keys + open ledger
  std::shared_ptr<const ledger::KeyRing> keys;  // the same keys, shared with the hooks
  std::unique_ptr<FlLedger> ledger;             // the hooks
};

// Loads keys_dir, or makes fresh keys for the server and every client in run.out_dir/keys
// (scheme: "ed25519" or "hmac"), and opens the ledger at `path`.
std::unique_ptr<FlLedgerRun> open_fl_ledger(const std::string& path, const std::string& keys_dir,
                                            const std::string& scheme, const RunnerOptions& run,
                                            FlLedgerOptions options = {});

}  // namespace tdml::fl
