#include "tdml/ledger/signed_head.h"

#include "tdml/ledger/canonical_json.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/sha256.h"

namespace tdml::ledger {
namespace {

bool lower_hex(const std::string& s, std::size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string SignedHead::message() const {
  nlohmann::json j = to_json();
  j.erase("sig");
  return "tdml.head.v2:" + canonical_json(j);
}

void SignedHead::sign(const Signer& server) { sig = util::to_hex(server.sign(message())); }

bool SignedHead::verify(const Verifier& server) const {
  try {
    return lower_hex(sig, sig.size()) && !sig.empty() &&
           server.verify(message(), util::from_hex(sig));
  } catch (const std::exception&) {
    return false;
  }
}

nlohmann::json SignedHead::to_json() const {
  return {{"hash", hash}, {"index", index}, {"root", root}, {"run_id", run_id},
          {"sig", sig},   {"size", size},   {"time", time}};
}

SignedHead SignedHead::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("a head is a JSON object");
  for (const char* k : {"hash", "root", "run_id", "sig", "time"}) {
    if (!j.contains(k) || !j[k].is_string()) throw Error(std::string("head: no string ") + k);
  }
  for (const char* k : {"index", "size"}) {
    if (!j.contains(k) || !j[k].is_number_integer())
      throw Error(std::string("head: no integer ") + k);
  }
  if (j.size() != 7) throw Error("head: unknown fields");
  SignedHead h;
  h.hash = j["hash"];
  h.root = j["root"];
  h.run_id = j["run_id"];
  h.sig = j["sig"];
  h.time = j["time"];
  h.index = j["index"];
  h.size = j["size"];
  if (h.size < 1 || h.index != h.size - 1) throw Error("head: index must be size - 1 >= 0");
  if (!lower_hex(h.hash, 64) || !lower_hex(h.root, 64)) {
    throw Error("head: hash and root must be 64 lower-case hex digits");
  }
  if (h.sig.empty() || !lower_hex(h.sig, h.sig.size()) || h.sig.size() % 2) {
    throw Error("head: sig must be lower-case hex");
  }
  return h;
}

SignedHead SignedHead::read(const std::string& path) {
  const auto text = util::read_file(path);
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error(path + " is not a JSON head");
  try {
    return from_json(j.contains("head") ? j["head"] : j);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

}  // namespace tdml::ledger
