#include "tdml/ledger/proofs.h"

#include <filesystem>

#include "chain.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/merkle.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/sha256.h"

namespace tdml::ledger {
namespace {

constexpr const char kProofFormat[] = "tdml.proof.v1";

// The ledger's lines, its tree and its head, checked against each other.
struct Opened {
  std::vector<std::string> lines;
  MerkleTree tree;
  SignedHead head;
};

Opened open_for_proofs(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error("no ledger file " + path);
  Opened o;
  o.lines = detail::split_lines(detail::read_ledger_text(path)).complete;
  for (const auto& line : o.lines) o.tree.append(detail::block_leaf(line));
  const auto hpath = head_path(path);
  if (!std::filesystem::exists(hpath)) throw Error("no head file " + hpath);
  if (const auto why = detail::parse_head(util::read_file(hpath), o.head); !why.empty()) {
    throw Error(hpath + ": " + why);
  }
  if (static_cast<std::size_t>(o.head.size) > o.tree.size() ||
      util::to_hex(o.tree.root_at(static_cast<std::size_t>(o.head.size))) != o.head.root) {
    throw Error("the head " + hpath + " does not match " + path + " (run tdml ledger verify)");
  }
  return o;
}

nlohmann::json hex_path(const std::vector<std::string>& nodes) {
  auto a = nlohmann::json::array();
  for (const auto& n : nodes) a.push_back(util::to_hex(n));
  return a;
}

// The path's nodes as raw bytes; false on anything but an array of 32-byte lower-case hex
// (util::from_hex accepts lower case only).
bool raw_path(const nlohmann::json& j, std::vector<std::string>& out) {
  if (!j.is_array()) return false;
  for (const auto& n : j) {
    if (!n.is_string() || n.get<std::string>().size() != 2 * kMerkleHashSize) return false;
    try {
      out.push_back(util::from_hex(n.get<std::string>()));
    } catch (const Error&) {
      return false;
    }
  }
  return true;
}

ProofCheck bad(const std::string& why) { return {false, why, ""}; }

ProofCheck check_inclusion(const nlohmann::json& p, const SignedHead& head) {
  if (!p.contains("index") || !p["index"].is_number_integer()) return bad("no integer index");
  if (!p.contains("leaf") || !p["leaf"].is_string()) return bad("no leaf");
  const auto index = p["index"].get<std::int64_t>();
  std::vector<std::string> path;
  if (!raw_path(p.value("path", nlohmann::json()), path)) return bad("malformed path");
  const std::string leaf = p["leaf"];
  if (index < 0 ||
      !verify_inclusion(merkle_leaf_hash(leaf), static_cast<std::size_t>(index),
                        static_cast<std::size_t>(head.size), path, util::from_hex(head.root))) {
    return bad("the inclusion proof does not lead to the head's root");
  }
  const auto block = nlohmann::json::parse(leaf, nullptr, false);
  if (!block.is_object() || block.value("index", std::int64_t{-1}) != index) {
    return bad("the leaf is not block " + std::to_string(index));
  }
  std::string what = "block " + std::to_string(index) + " (hash " +
                     block.value("hash", std::string()).substr(0, 16) + "...)";
  if (p.contains("client")) {
    const auto& c = p["client"];
    bool found = false;
    for (const auto& e : block.value("clients", nlohmann::json::array())) found = found || e == c;
    if (!c.is_object() || !found) return bad("the client entry is not in the block");
    what += ", with " + c.value("id", std::string("?")) + "'s entry (status " +
            c.value("status", std::string("?")) + ")";
  }
  return {true, "", what + " is in the ledger of " + std::to_string(head.size) + " blocks"};
}

ProofCheck check_consistency(const nlohmann::json& p, const SignedHead& trusted,
                             const SignedHead& head) {
  if (!p.contains("old_size") || !p["old_size"].is_number_integer()) return bad("no old_size");
  const auto old_size = p["old_size"].get<std::int64_t>();
  if (old_size != trusted.size || p.value("old_root", std::string()) != trusted.root) {
    return bad("the proof does not start from the trusted head (size " +
               std::to_string(trusted.size) + ")");
  }
  if (head.run_id != trusted.run_id) return bad("the new head names another run");
  std::vector<std::string> path;
  if (!raw_path(p.value("path", nlohmann::json()), path)) return bad("malformed path");
  if (!verify_consistency(static_cast<std::size_t>(old_size), static_cast<std::size_t>(head.size),
                          util::from_hex(trusted.root), util::from_hex(head.root), path)) {
    return bad("the new head does not extend the trusted head (rolled back, forked or edited)");
  }
  return {true, "",
          "the ledger of " + std::to_string(head.size) + " blocks extends the trusted head of " +
              std::to_string(trusted.size)};
}

}  // namespace

nlohmann::json prove_inclusion(const std::string& ledger_path, std::int64_t index,
                               const std::string& client) {
  const auto o = open_for_proofs(ledger_path);
  if (index < 0 || index >= o.head.size) {
    throw Error("--index " + std::to_string(index) + ": the head covers blocks 0.." +
                std::to_string(o.head.size - 1));
  }
  const auto& line = o.lines[static_cast<std::size_t>(index)];
  nlohmann::json p = {
      {"format", kProofFormat},
      {"kind", "inclusion"},
      {"index", index},
      {"leaf", line},
      {"path", hex_path(o.tree.inclusion_proof(static_cast<std::size_t>(index),
                                               static_cast<std::size_t>(o.head.size)))},
      {"head", o.head.to_json()}};
  if (!client.empty()) {
    const auto block = nlohmann::json::parse(line);
    for (const auto& e : block.value("clients", nlohmann::json::array())) {
      if (e.value("id", "") == client) p["client"] = e;
    }
    if (!p.contains("client")) {
      throw Error("block " + std::to_string(index) + " has no entry for " + client);
    }
  }
  return p;
}

nlohmann::json prove_consistency(const std::string& ledger_path, const SignedHead& old_head) {
  const auto o = open_for_proofs(ledger_path);
  if (old_head.run_id != o.head.run_id) throw Error("the old head names another run");
  if (old_head.size > o.head.size) {
    throw Error("the old head covers " + std::to_string(old_head.size) +
                " blocks, more than the ledger's head (" + std::to_string(o.head.size) +
                "): the ledger was rolled back");
  }
  return {{"format", kProofFormat},
          {"kind", "consistency"},
          {"old_size", old_head.size},
          {"old_root", old_head.root},
          {"path", hex_path(o.tree.consistency_proof(static_cast<std::size_t>(old_head.size),
                                                     static_cast<std::size_t>(o.head.size)))},
          {"head", o.head.to_json()}};
}

ProofCheck check_proof(const nlohmann::json& proof, const SignedHead& trusted,
                       const Verifier* server) {
  try {
    if (!proof.is_object() || proof.value("format", "") != kProofFormat) {
      return bad("not a " + std::string(kProofFormat) + " proof");
    }
    const auto head = SignedHead::from_json(proof.value("head", nlohmann::json()));
    if (server && !trusted.verify(*server)) return bad("the trusted head's signature is invalid");
    if (server && !head.verify(*server)) return bad("the proof's head signature is invalid");
    ProofCheck c;
    const auto kind = proof.value("kind", "");
    if (kind == "inclusion") {
      if (head.size != trusted.size || head.root != trusted.root) {
        return bad("the proof is made against another head (size " + std::to_string(head.size) +
                   ") than the trusted one (size " + std::to_string(trusted.size) + ")");
      }
      c = check_inclusion(proof, trusted);
    } else if (kind == "consistency") {
      c = check_consistency(proof, trusted, head);
    } else {
      return bad("unknown proof kind '" + kind + "'");
    }
    if (c.ok && !server) c.summary += " (head signatures NOT checked: no server key)";
    return c;
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

}  // namespace tdml::ledger
