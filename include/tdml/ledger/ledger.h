#pragma once
// An append-only, hash-chained, signed ledger: one JSON line a block (JSON Lines).
//
// Line = canonical JSON (see canonical_json.h) of the block body plus two fields:
//   "hash":       SHA-256 hex of the canonical JSON of the body without hash and server_sig
//   "server_sig": hex signature by the "server" key of "tdml.block.v1:" + hash
// The body carries "index" (0, 1, ...), "prev_hash" (previous block's hash; 64 zeros for block
// 0), "kind", "scheme" (signature scheme), "timestamp" (UTC ISO-8601) and the record's fields.
// After each block a signed tree head (signed_head.h: size, Merkle root over the lines, last
// hash, run id, time; head_path(): "ledger.head" next to "ledger.jsonl") is rewritten
// atomically; it detects dropped tail blocks, which would leave a valid chain, and anchors
// inclusion and consistency proofs (proofs.h).
//
// Durability: each append writes the line with one write(2) and fsyncs, then writes the head
// (temp file, fsync, rename, directory fsync). A crash mid-append leaves a torn last line
// (no trailing newline); verify reports it and `verify --repair` truncates it. A crash between
// the line and the head leaves the head one block behind, which verify accepts with a warning
// (the extra block is still chained and signed); the next open() re-signs it after checking
// the old head and every block's signature with its own key (it never re-signs what it has not
// checked).
// Concurrency: one writer per ledger, enforced by flock on "<ledger>.lock" (also across
// processes); a second open() throws. A Ledger object is not thread-safe: one owner.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/ledger/block.h"
#include "tdml/ledger/genesis.h"
#include "tdml/ledger/merkle.h"
#include "tdml/ledger/signed_head.h"
#include "tdml/ledger/signer.h"

namespace tdml::ledger {

struct LedgerOptions {
  // fsync the ledger after each line and the head after each rewrite. Off only for tests and
  // benchmarks of the non-durable cost.
  bool fsync = true;
  // Continue an existing non-empty ledger (a resumed run). Without it open() refuses one, so a
  // second run is never appended to another's ledger unnoticed.
  bool resume = false;
  // A new ledger starts with this genesis block (genesis.h; block 0, its run id then in every
  // block). Null: no genesis (tests of the chain alone; verify warns).
  const Genesis* genesis = nullptr;
};

// "DIR/ledger.jsonl" -> "DIR/ledger.head" (any other name: name + ".head").
std::string head_path(const std::string& ledger_path);

class Ledger {
 public:
  // Opens (creating if needed) the ledger at `path` for appending; the server signs blocks and
  // the head with `server_signer` (key id "server"). An existing ledger is read to continue its
  // chain: its hashes, links and server signatures must hold (with server_signer's key), its
  // head must be signed by that key and match its blocks (or lag by one), and its last line
  // must be complete, else tdml::Error (run `tdml ledger verify --repair` for a torn line).
  // Throws when another writer holds it.
  static std::unique_ptr<Ledger> open(const std::string& path,
                                      std::shared_ptr<const Signer> server_signer,
                                      LedgerOptions options = {});
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends one block; returns its hash (hex). Durable when it returns (with options.fsync).
  std::string append(const RoundRecord& round);
  std::string append(const EpochRecord& epoch);
  // Generic form: `body` must be an object; its fields index, prev_hash, kind, scheme,
  // timestamp, hash, server_sig are set by the ledger (any given values are replaced).
  std::string append(const std::string& kind, const nlohmann::json& body);

  // Blocks in the ledger (next index) and the last block's hash (64 zeros when empty).
  std::int64_t size() const { return next_index_; }
  const std::string& last_hash() const { return last_hash_; }
  const std::string& path() const { return path_; }
  // The run id of the genesis block ("" without one); set into every block appended.
  const std::string& run_id() const { return run_id_; }
  // The signed tree head of the blocks so far (what the head file holds after each append).
  SignedHead head() const;
  // The Merkle tree over the lines (leaf k = block k).
  const MerkleTree& tree() const { return tree_; }

 private:
  Ledger() = default;
  void write_head();
  void check_head() const;

  std::string path_;
  std::shared_ptr<const Signer> signer_;
  LedgerOptions options_;
  int fd_ = -1;
  int lock_fd_ = -1;
  std::int64_t next_index_ = 0;
  std::string last_hash_;
  std::string run_id_;  // block 0's run id
  MerkleTree tree_;
};

// 64 zeros: prev_hash of block 0.
const std::string& genesis_hash();

// The signed block message for a block hash.
std::string block_message(const std::string& hash);
// Whether sig_hex is v's signature of message (false on malformed hex; never throws).
bool verify_hex(const Verifier& v, const std::string& message, const std::string& sig_hex);

}  // namespace tdml::ledger
