#pragma once
// `tdml ledger bench`: writes a synthetic FL ledger (signed client updates, a rejected forgery
// every 10th client) and times appending and verifying it.
#include <cstdint>
#include <string>

#include "tdml/ledger/signer.h"
#include "tdml/ledger/verify.h"

namespace tdml::ledger {

struct LedgerBenchOptions {
  std::string dir;    // where keys/ and ledger.jsonl are written (must not hold keys)
  int blocks = 1000;  // FL rounds to append
  int clients = 10;   // client entries per block
  Scheme scheme = Scheme::kEd25519;  // signature scheme
  bool fsync = true;                 // durable appends (the real cost)
};

struct LedgerBenchResult {
  double append_total_s = 0;   // all Ledger::append calls (hash, sign, write, fsync, head)
  double append_mean_ms = 0;   // per block
  double append_max_ms = 0;    // slowest block
  double server_check_ms = 0;  // per block: verify_update_signature for every client
  double verify_s = 0;         // verify_ledger with keys: wall-clock seconds
  double verify_cpu_s = 0;     // its CPU seconds (all threads; wall ~ cpu / free cores)
  std::int64_t bytes = 0;      // ledger file size
  VerifyReport report;         // the verify result (must be ok)
  // Merkle proofs over the ledger's lines (merkle.h), as `ledger prove` / `check-proof` use it:
  double tree_build_s = 0;             // leaf hashes of every line + the tree
  double proof_us = 0;                 // mean inclusion proof generation (random blocks)
  double proof_verify_us = 0;          // mean verify_inclusion
  double proof_nodes = 0;              // mean inclusion proof length (nodes of 32 bytes)
  std::int64_t consistency_nodes = 0;  // consistency proof from half the ledger to all of it
  double consistency_verify_us = 0;
};

LedgerBenchResult run_ledger_bench(const LedgerBenchOptions& options);

}  // namespace tdml::ledger
