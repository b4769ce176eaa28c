#include "tdml/ledger/keys.h"

#include <openssl/crypto.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ledger/secret_file.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/key_files.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::ledger {
namespace {

constexpr std::size_t kSecretBytes = 32;

std::string manifest_path(const std::string& dir) { return dir + "/keys.json"; }
std::string secret_path(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".key";
}

}  // namespace

std::string client_key_id(int i) { return "client-" + std::to_string(i); }

void KeyRing::add(const std::string& id, const std::string& secret, const std::string& public_key) {
  if (!valid_key_id(id)) throw Error("invalid key id '" + id + "' (letters, digits, - _ . only)");
  Entry e;
  e.secret = secret;
  if (scheme_ == Scheme::kHmac) {
    if (!secret.empty()) {
      if (secret.size() < 16) throw Error("HMAC key " + id + " is shorter than 16 bytes");
      e.signer = make_hmac_signer(id, secret);
      e.verifier = e.signer;
    }
  } else if (!secret.empty()) {
    e.public_key = ed25519_public_key(secret);
    if (!public_key.empty() && public_key != e.public_key) {
      throw Error("secret key of " + id + " does not match its public key in the manifest");
    }
    e.signer = make_ed25519_signer(id, secret);
    e.verifier = e.signer;
  } else {
    if (public_key.size() != 32) throw Error("Ed25519 public key of " + id + " must be 32 bytes");
    e.public_key = public_key;
    e.verifier = make_ed25519_verifier(id, public_key);
  }
  keys_[id] = std::move(e);
}

KeyRing KeyRing::generate(Scheme scheme, int clients) {
  if (clients < 0) throw UsageError("--clients must be >= 0");
  KeyRing ring(scheme);
  ring.add(kServerKeyId, random_bytes(kSecretBytes));
  for (int i = 0; i < clients; ++i) ring.add(client_key_id(i), random_bytes(kSecretBytes));
  return ring;
}

std::vector<std::string> KeyRing::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : keys_) out.push_back(id);
  return out;
}

bool KeyRing::has_secret(const std::string& id) const {
  auto it = keys_.find(id);
  return it != keys_.end() && it->second.signer != nullptr;
}

std::shared_ptr<const Signer> KeyRing::signer(const std::string& id) const {
  auto it = keys_.find(id);
  if (it == keys_.end()) throw Error("no key '" + id + "' in the key ring");
  if (!it->second.signer) throw Error("the secret key of '" + id + "' is not loaded");
  return it->second.signer;
}

std::shared_ptr<const Verifier> KeyRing::verifier(const std::string& id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : it->second.verifier;
}

void KeyRing::save(const std::string& dir, bool overwrite) const {
  util::make_dirs(dir);
  if (!overwrite && std::filesystem::exists(manifest_path(dir))) {
    throw Error("keys already exist in " + dir + " (keys.json); choose another --out directory");
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, e] : keys_) {
    nlohmann::json k = {{"id", id}};
    if (scheme_ == Scheme::kEd25519) k["public"] = to_hex(e.public_key);
    list.push_back(k);
    if (!e.signer) continue;
    nlohmann::json s = {{"id", id}, {"scheme", scheme_name(scheme_)}, {"secret", to_hex(e.secret)}};
    std::string text = canonical_json(s) + "\n";
    write_secret_file(secret_path(dir, id), text);
    OPENSSL_cleanse(text.data(), text.size());
  }
  nlohmann::json manifest = {{"scheme", scheme_name(scheme_)}, {"keys", list}};
  util::write_file_atomic(manifest_path(dir), manifest.dump(2) + "\n");
}

KeyRing KeyRing::load(const std::string& dir) {
  const std::string mpath = manifest_path(dir);
  if (!std::filesystem::exists(mpath)) {
    throw Error("no key manifest " + mpath + " (create keys with: tdml keys gen --out " + dir +
                ")");
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(util::read_file(mpath));
    KeyRing ring(parse_scheme(manifest.at("scheme").get<std::string>()));
    for (const auto& k : manifest.at("keys")) {
      const auto id = k.at("id").get<std::string>();
      if (!valid_key_id(id)) throw Error("invalid key id '" + id + "' in " + mpath);
      std::string pub = k.contains("public")
                            ? from_hex(k["public"].get<std::string>(), "public key of " + id)
                            : std::string();
      std::string secret;
      const std::string spath = secret_path(dir, id);
      if (std::filesystem::exists(spath)) {
        auto s = read_secret_file(spath);
        if (s.value("id", "") != id || s.value("scheme", "") != scheme_name(ring.scheme_)) {
          throw Error("key file " + spath + " does not belong to " + id + " (" +
                      scheme_name(ring.scheme_) + ")");
        }
        auto hex = s.at("secret").get<std::string>();
        secret = from_hex(hex, "secret of " + id);
        OPENSSL_cleanse(hex.data(), hex.size());
      }
      if (ring.scheme_ == Scheme::kHmac && secret.empty()) {
        ring.keys_[id] = Entry{};  // known id, cannot sign or verify without its secret
      } else {
        ring.add(id, secret, pub);
      }
      OPENSSL_cleanse(secret.data(), secret.size());
    }
    return ring;
  } catch (const nlohmann::json::exception& e) {
    throw Error("malformed key manifest " + mpath + ": " + e.what());
  }
}

std::string KeyRing::public_key(const std::string& id) const {
  const auto it = keys_.find(id);
  return it == keys_.end() ? std::string() : it->second.public_key;
}

}  // namespace tdml::ledger
