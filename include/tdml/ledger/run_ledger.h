#pragma once
// Opening the ledger of a run (`tdml train --ledger`, `tdml fl --ledger`): the keys and the
// ledger file together.
//
// Keys: with keys_dir set, KeyRing::load(keys_dir) (it must hold the server's secret, and for
// FL every client's secret the run signs with). Without it, fresh keys of `scheme` for the
// server and `clients` clients are generated and saved to fresh_keys_dir (secrets 0600, public
// manifest keys.json), so `tdml ledger verify LEDGER --keys fresh_keys_dir` works afterwards.
// An existing fresh_keys_dir/keys.json is reused (a resumed run keeps its keys).
// The ledger continues an existing chain at `path` (resume) and holds its lock until destroyed.
// Errors: tdml::Error (unreadable keys, a secret readable by others, a ledger held by another
// writer or broken), tdml::UsageError (unknown scheme).
#include <memory>
#include <string>

#include "tdml/ledger/keys.h"
#include "tdml/ledger/ledger.h"

namespace tdml::ledger {

struct RunLedgerOptions {
  std::string path;            // ledger file, e.g. RUN/ledger.jsonl ("" = no ledger)
  std::string keys_dir;        // existing key directory ("" = fresh keys)
  std::string scheme = "ed25519";  // fresh keys: "ed25519" or "hmac"
  std::string fresh_keys_dir;  // where fresh keys are written (e.g. RUN/keys)
  int clients = 0;             // fresh keys: client-0 .. client-(clients-1) besides "server"
  bool fsync = true;           // see LedgerOptions
  bool resume = false;         // continue an existing ledger (LedgerOptions::resume)
  // The genesis of a new ledger (genesis.h): trust "simulation" (this process holds every key).
  std::string run_kind = "fl";
  std::string config_hash;
  std::string data_hash;
};

struct RunLedger {
  KeyRing keys;
  std::string keys_dir;  // where the keys live (given or fresh)
  std::unique_ptr<Ledger> ledger;
};

// Loads or makes the keys, then opens (or continues) the ledger. See the header comment.
RunLedger open_run_ledger(const RunLedgerOptions& options);

}  // namespace tdml::ledger
