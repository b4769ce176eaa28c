#include "tdml/ledger/witness.h"

#include <filesystem>

#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/proofs.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/sha256.h"

namespace tdml::ledger {

std::string Cosigned::message() const {
  return "tdml.witness.v1:" + canonical_json(head.to_json());
}

bool Cosigned::verify(const Verifier& w) const {
  try {
    return w.verify(message(), util::from_hex(sig));
  } catch (const std::exception&) {
    return false;
  }
}

nlohmann::json Cosigned::to_json() const {
  return {{"head", head.to_json()}, {"witness", witness}, {"sig", sig}};
}

Cosigned Cosigned::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("witness") || !j["witness"].is_string() || !j.contains("sig") ||
      !j["sig"].is_string()) {
    throw Error("not a countersigned head (tdml ledger witness)");
  }
  return {SignedHead::from_json(j.value("head", nlohmann::json())), j["witness"], j["sig"]};
}

Cosigned witness_head(const SignedHead& head, const Signer& witness, const std::string& store,
                      const Verifier* server, const nlohmann::json* consistency) {
  if (server && !head.verify(*server)) throw Error("the head is not signed by the server's key");
  util::make_dirs(store);
  const auto last_path = store + "/last.head";
  if (std::filesystem::exists(last_path)) {
    const auto last = SignedHead::read(last_path);
    if (last.run_id != head.run_id) {
      throw Error("refusing: this witness follows run " + last.run_id + ", not " + head.run_id);
    }
    if (head.size < last.size) {
      throw Error("refusing: the head covers " + std::to_string(head.size) +
                  " blocks, fewer than the " + std::to_string(last.size) +
                  " this witness countersigned (a rollback)");
    }
    if (!(head.size == last.size && head.root == last.root)) {
      if (!consistency) {
        throw Error("a consistency proof from the last countersigned head (size " +
                    std::to_string(last.size) +
                    ") is needed: tdml ledger consistency LEDGER "
                    "--old-head " +
                    last_path);
      }
      const auto c = check_proof(*consistency, last, server);
      if (!c.ok) throw Error("refusing (a fork?): " + c.reason);
      const auto proven = SignedHead::from_json(consistency->value("head", nlohmann::json()));
      if (proven.size != head.size || proven.root != head.root) {
        throw Error("refusing: the proof ends at another head than the one to countersign");
      }
    }
  }
  Cosigned c{head, witness.key_id(), ""};
  c.sig = util::to_hex(witness.sign(c.message()));
  util::write_file_atomic(store + "/cosigned-" + std::to_string(head.size) + ".json",
                          c.to_json().dump(1) + "\n");
  util::write_file_atomic(last_path, canonical_json(head.to_json()) + "\n");
  return c;
}

}  // namespace tdml::ledger
