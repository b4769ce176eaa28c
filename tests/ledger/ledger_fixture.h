#pragma once
// Test helpers for the ledger suite: fixed keys, synthetic signed FL rounds, line surgery.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/update_signature.h"
#include "tdml/ledger/verify.h"

namespace tdml::ledger::testing {

// Deterministic keys: secret = SHA-256("<tag>/<id>").
inline KeyRing fixed_keys(Scheme scheme, int clients, const std::string& tag = "test") {
  KeyRing ring(scheme);
  ring.add(kServerKeyId, from_hex(sha256_hex(tag + "/server")));
  for (int i = 0; i < clients; ++i) {
    ring.add(client_key_id(i), from_hex(sha256_hex(tag + "/" + client_key_id(i))));
  }
  return ring;
}

// A round where every client signs honestly; client (clients-1) sends a bad signature and is
// refused when `reject_last`. Its model_after is derived from (before, round, tag): pass the
// previous round's model_after as `before` to keep the chain's model continuity (verify checks
// it); a different tag gives a different history from the same model.
inline RoundRecord make_round(const KeyRing& keys, std::int64_t round, const std::string& before,
                              int clients, bool reject_last = false, const std::string& tag = "") {
  RoundRecord r;
  r.round = round;
  r.model_before = before;
  r.model_after = sha256_hex(before + "/after/" + std::to_string(round) + tag);
  r.aggregator = "trimmed_mean";
  r.aggregator_params = {{"trim", 0.1}};
  for (int c = 0; c < clients; ++c) {
    UpdateClaim claim{
        client_key_id(c), round,
        100 + c,          sha256_hex("update/" + std::to_string(round) + "/" + std::to_string(c)),
        before,           ""};
    ClientEntry e{claim.client_id,
                  claim.update_hash,
                  claim.samples,
                  sign_update(*keys.signer(claim.client_id), claim),
                  c == 1 ? UpdateStatus::kClipped : UpdateStatus::kAccepted,
                  0.5 + c,
                  0.01 * c,
                  c == 1 ? "norm above 5" : ""};
    if (reject_last && c == clients - 1) {
      e.signature = "00" + e.signature.substr(2);
      e.status = UpdateStatus::kRefused;
      e.reason = "bad signature";
    }
    r.clients.push_back(e);
  }
  r.metrics = {{"test_acc", 0.25 + 0.05 * round}, {"loss", 1.5}, {"round_s", 2.0}};
  return r;
}

// Writes `blocks` FL rounds; returns the ledger path (DIR/ledger.jsonl).
inline std::string write_ledger(const std::string& dir, const KeyRing& keys, int blocks,
                                int clients) {
  const std::string path = dir + "/ledger.jsonl";
  auto l = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{false, true});
  std::string model = sha256_hex("init");
  for (int r = 1; r <= blocks; ++r) {
    auto rec = make_round(keys, r, model, clients, r == 2);
    l->append(rec);
    model = rec.model_after;
  }
  return path;
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string s; std::getline(in, s);) out.push_back(s);
  return out;
}

// Appends rounds from..to to `l` (the ledger at `path`), each starting from the model the
// ledger's last round ended with (or SHA-256("init") in an empty ledger or after a genesis).
inline void append_rounds(Ledger& l, const std::string& path, const KeyRing& keys, int from, int to,
                          int clients, const std::string& tag = "") {
  std::string model = sha256_hex("init");
  const auto lines = read_lines(path);
  if (!lines.empty()) {
    const auto j = nlohmann::json::parse(lines.back());
    if (j.contains("model_after")) model = j["model_after"].get<std::string>();
  }
  for (int r = from; r <= to; ++r) {
    auto rec = make_round(keys, r, model, clients, false, tag);
    l.append(rec);
    model = rec.model_after;
  }
}

inline void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  for (const auto& l : lines) out << l << "\n";
}

inline VerifyReport verify_with(const std::string& path, const KeyRing& keys) {
  VerifyOptions o;
  o.keys = &keys;
  return verify_ledger(path, o);
}

}  // namespace tdml::ledger::testing
