#pragma once
// Signing behind one small interface. Two schemes:
//  - ed25519 (default): anyone holding the public key can verify (EVP_PKEY + EVP_DigestSign).
//  - hmac: HMAC-SHA256 with a per-signer 32-byte secret; verifying needs the same secret.
// Signatures are raw bytes (64 for ed25519, 32 for hmac); the ledger stores them as hex.
// Verification never throws on a bad signature: it returns false, and compares in constant
// time (CRYPTO_memcmp). Signer and Verifier objects are immutable after construction and safe
// to use from several threads at once. Secrets live only inside these objects and key files:
// nothing here logs or prints them.
#include <memory>
#include <string>
#include <string_view>

namespace tdml::ledger {

enum class Scheme { kEd25519, kHmac };

// "ed25519" / "hmac".
std::string scheme_name(Scheme s);
// Parses "ed25519" / "hmac"; throws tdml::UsageError naming the accepted values.
Scheme parse_scheme(const std::string& name);

class Verifier {
 public:
  virtual ~Verifier() = default;
  // True when `signature` is `key_id()`'s signature of `message`.
  virtual bool verify(std::string_view message, std::string_view signature) const = 0;
  virtual const std::string& key_id() const = 0;
  virtual Scheme scheme() const = 0;
};

class Signer : public Verifier {
 public:
  // The signature of `message` (raw bytes). Throws tdml::Error if OpenSSL fails.
  virtual std::string sign(std::string_view message) const = 0;
};

// HMAC-SHA256 with `secret` (any length; tdml generates 32 bytes). Signer and verifier alike.
std::unique_ptr<Signer> make_hmac_signer(const std::string& key_id, const std::string& secret);

// Ed25519 from a 32-byte private seed (RFC 8032). Throws tdml::Error on a wrong size.
std::unique_ptr<Signer> make_ed25519_signer(const std::string& key_id, const std::string& seed);
// Ed25519 verifier from a 32-byte public key.
std::unique_ptr<Verifier> make_ed25519_verifier(const std::string& key_id,
                                                const std::string& public_key);
// The 32-byte public key of a 32-byte seed.
std::string ed25519_public_key(const std::string& seed);

// `n` bytes from OpenSSL's CSPRNG (RAND_bytes).
std::string random_bytes(std::size_t n);

}  // namespace tdml::ledger
