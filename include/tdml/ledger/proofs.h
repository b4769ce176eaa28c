#pragma once
// Proofs against a ledger's signed tree head (signed_head.h), checkable offline by whoever holds
// the head (and, to trust the head, the server's public key):
//   inclusion   {"format":"tdml.proof.v1","kind":"inclusion","index":I,"leaf":"<block I's line>",
//                "path":["<hex>",...],"head":{signed head},"client":{entry}?}
//               block I is leaf I of the tree the head's root commits to (RFC 9162 2.1.3);
//               with a client id, that client's entry is the one in the leaf.
//   consistency {"format":"tdml.proof.v1","kind":"consistency","old_size":M,"old_root":"<hex>",
//                "path":["<hex>",...],"head":{signed head of size N}}
//               the first M blocks of the head's tree are the tree whose root is old_root
//               (RFC 9162 2.1.4): the ledger only grew since a head of size M (no rollback, no
//               fork, no edit of an old block).
// Errors: building a proof throws tdml::Error (unreadable ledger, a head that does not match
// it, an index or client it lacks); checking never throws for a bad proof (that is a result).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/ledger/signed_head.h"
#include "tdml/ledger/signer.h"

namespace tdml::ledger {

// Block `index` of the ledger at `ledger_path` against its current head (and `client`'s entry
// in it when not empty).
nlohmann::json prove_inclusion(const std::string& ledger_path, std::int64_t index,
                               const std::string& client = "");

// The ledger's current head extends `old_head` (of the same run).
nlohmann::json prove_consistency(const std::string& ledger_path, const SignedHead& old_head);

struct ProofCheck {
  bool ok = false;
  std::string reason;   // why not (empty when ok)
  std::string summary;  // one line: what was proven
};

// Checks `proof` against `trusted`, a head the verifier holds: an inclusion proof must be made
// against that head (same size and root); a consistency proof must start from it (old size and
// root) and ends at the proof's head. server: when set, every head involved must carry its
// signature (without it only the hashes are checked, and the summary says so).
ProofCheck check_proof(const nlohmann::json& proof, const SignedHead& trusted,
                       const Verifier* server);

}  // namespace tdml::ledger
