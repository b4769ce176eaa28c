#pragma once
// A key ring: the server's key ("server") and one per client ("client-0", "client-1", ...).
//
// On disk (`tdml keys gen --clients N --out DIR`):
//   DIR/keys.json     public manifest {"keys":[{"id":"client-0","public":"<hex>"},...],
//                     "scheme":"ed25519"}   (hmac: ids only, no public part)
//   DIR/<id>.key      secret, mode 0600: {"id":"server","scheme":"ed25519","secret":"<hex>"}
// Loading refuses a secret file that group or others can read or write (chmod 600 fixes it),
// one owned by another user, and a symbolic link (ledger/key_files.h). A verifier of ed25519
// ledgers needs only keys.json; hmac needs the secrets of every signer it checks.
// One key per party (a real federation) is ledger/key_files.h.
// A KeyRing is immutable once built; const methods are thread-safe.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tdml/ledger/signer.h"

namespace tdml::ledger {

// "client-<i>".
std::string client_key_id(int i);
inline constexpr const char kServerKeyId[] = "server";

class KeyRing {
 public:
  KeyRing() = default;

  // Fresh random keys for "server" and client-0 .. client-(clients-1).
  static KeyRing generate(Scheme scheme, int clients);
  // Reads DIR/keys.json and every DIR/<id>.key present. Throws tdml::Error on a missing or
  // malformed manifest, a secret readable by others, or a secret that does not match the
  // manifest's public key.
  static KeyRing load(const std::string& dir);

  // Writes keys.json and one 0600 secret file per key (each atomically). Refuses (tdml::Error)
  // when DIR already holds keys.json, unless overwrite.
  void save(const std::string& dir, bool overwrite = false) const;

  Scheme scheme() const { return scheme_; }
  // Ids in the manifest, sorted.
  std::vector<std::string> ids() const;
  bool has(const std::string& id) const { return keys_.count(id) != 0; }
  bool has_secret(const std::string& id) const;
  // The raw ed25519 public key of `id` ("" for hmac or an unknown id).
  std::string public_key(const std::string& id) const;

  // A signer for `id`; throws tdml::Error when the id is unknown or its secret is not loaded.
  std::shared_ptr<const Signer> signer(const std::string& id) const;
  // A verifier for `id`; nullptr when the id is unknown or (hmac) its secret is not loaded.
  std::shared_ptr<const Verifier> verifier(const std::string& id) const;

  // Adds a key (used by generate/load and by tests with fixed keys). secret may be empty for an
  // ed25519 key known only by its public key. Throws on a bad id or key size.
  void add(const std::string& id, const std::string& secret, const std::string& public_key = "");

  explicit KeyRing(Scheme scheme) : scheme_(scheme) {}

 private:
  struct Entry {
    std::string secret;      // raw secret bytes; empty when only the public part is known
    std::string public_key;  // ed25519 only
    std::shared_ptr<const Signer> signer;      // null when the secret is unknown
    std::shared_ptr<const Verifier> verifier;  // null for hmac without secret
  };
  Scheme scheme_ = Scheme::kEd25519;
  std::map<std::string, Entry> keys_;
};

}  // namespace tdml::ledger
