#pragma once
// A witness (`tdml ledger witness`): a third party that countersigns a server's signed tree
// heads, each only if it extends the last head this witness countersigned (a consistency proof,
// proofs.h), so a server cannot show two auditors two histories: once a witness signed one, it
// refuses every fork and rollback of it.
//
// The witness keeps, in its store directory: last.head (the last head it countersigned) and
// cosigned-<size>.json = {"head":{signed head},"witness":"<id>","sig":"<hex>"}, sig = the
// witness key's signature of "tdml.witness.v1:" + canonical JSON of the head (server sig
// included). `tdml ledger verify --trusted-head cosigned-N.json --witness-pubkey KEY` checks it.
// Errors: tdml::Error with the reason it refuses (fork, rollback, another run, a bad proof).
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/ledger/signed_head.h"
#include "tdml/ledger/signer.h"

namespace tdml::ledger {

struct Cosigned {
  SignedHead head;
  std::string witness;  // the witness' key id
  std::string sig;      // hex

  std::string message() const;
  bool verify(const Verifier& witness_key) const;  // never throws
  nlohmann::json to_json() const;
  static Cosigned from_json(const nlohmann::json& j);  // throws tdml::Error
};

// Countersigns `head` and records it in `store`. The first head of a store is taken as seen;
// every later one needs `consistency` (tdml ledger consistency --old-head STORE/last.head) from
// the stored head to `head`. server: when set, the head must carry the server's signature.
// Returns what it wrote (STORE/cosigned-<size>.json).
Cosigned witness_head(const SignedHead& head, const Signer& witness, const std::string& store,
                      const Verifier* server, const nlohmann::json* consistency);

}  // namespace tdml::ledger
