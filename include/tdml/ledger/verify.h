#pragma once
// Auditing a ledger: `tdml ledger verify` and `tdml ledger show` call these.
//
// verify_ledger checks, block by block: the line is complete and is exactly the canonical JSON
// of what it parses to (so any edited byte shows), the hash re-computes, index counts from 0,
// prev_hash links to the previous block, the server signature, each client's update signature
// (accepted/clipped/flagged entries must carry a valid one; a moved or forged signature fails),
// then the signed head record (index and hash of the last block), and optionally that a model
// file hashes to the last block's model. It stops at the first broken block.
#include <cstdint>
#include <string>
#include <vector>

#include "tdml/ledger/keys.h"
#include "tdml/ledger/signed_head.h"

namespace tdml::ledger {

struct VerifyOptions {
  // Keys to check signatures with; nullptr: hashes, chain and head only (signatures are
  // reported as not checked; an attacker who rewrites everything is caught only with keys).
  const KeyRing* keys = nullptr;
  // When non-empty: the model file (tdml::models::load_tensors) must hash to the last block's
  // model (model_after of an FL block, model_hash of a train block).
  std::string model_path;
  // Truncate a torn last line (an interrupted append), keeping every complete block, then verify.
  bool repair = false;
  // A head the auditor saw before (e.g. kept from an earlier audit, or countersigned by a
  // witness): the ledger's first trusted->size blocks must have its Merkle root (catches a
  // rollback, a fork and any edit of an old block), and with keys its signature must hold.
  const SignedHead* trusted_head = nullptr;
  // Check client signatures with the keys the genesis block lists (signed by the server key
  // in `keys`, which must then be the genesis' server key): an auditor who pins the server's
  // public key needs nothing else. Keys already in `keys` take precedence.
  bool keys_from_genesis = false;
};

struct VerifyReport {
  bool ok = false;                     // everything checked holds
  std::int64_t blocks = 0;             // complete blocks read
  std::int64_t bad_block = -1;         // index (0-based line) of the first broken block, -1 if none
  std::string reason;                  // why it failed (empty when ok)
  std::string last_hash;               // hash of the last good block
  std::int64_t client_signatures = 0;  // client signatures checked and valid
  std::int64_t rejected = 0;           // client entries with status rejected
  bool signatures_checked = false;     // keys were given
  bool model_checked = false;          // the model file matched
  bool repaired = false;               // a torn line was truncated
  std::string scheme;                  // block 0's signature scheme ("ed25519", "hmac")
  std::string run_id;                  // the genesis' run id ("" without a genesis)
  std::string trust;                   // the genesis' trust mode ("federation", "simulation")
  std::string transport;               // the genesis' transport ("" when it names none)
  std::int64_t trusted_size = -1;      // the trusted head's size, when one was checked
  std::vector<std::string> warnings;   // e.g. head one block behind
  SignedHead head;                     // the head file, once checked
  // One line: "ledger OK: 1000 blocks, ... last hash ab12..." or "ledger BROKEN at block 7: ...".
  std::string summary() const;
};

// Never throws for a broken ledger (that is a report); throws tdml::Error only when the file
// cannot be read at all or --repair cannot truncate.
VerifyReport verify_ledger(const std::string& path, const VerifyOptions& options = {});

// A table of the ledger's blocks: index, round/epoch, counts of accepted/clipped/flagged/
// rejected clients, and metrics. Does not verify (run verify for that); throws tdml::Error on an
// unreadable line.
std::string format_ledger_table(const std::string& path);

}  // namespace tdml::ledger
