#pragma once
// SHA-256 (OpenSSL EVP) and hex encoding, for anything that hashes bytes: the ledger's digests,
// data manifests, configuration hashes. Digests as hex are lowercase, 64 characters. Functions
// are thread-safe; a Sha256 object is not (one owner).
#include <memory>
#include <string>
#include <string_view>

namespace tdml::util {

// Incremental SHA-256: update() any number of times, then hex() or digest() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The 32-byte digest; the object cannot be updated afterwards.
  std::string digest();
  std::string hex() { return to_hex(digest()); }

  static std::string to_hex(std::string_view bytes);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// SHA-256 of `bytes` as lowercase hex.
std::string sha256_hex(std::string_view bytes);

// Hex <-> bytes. from_hex throws tdml::Error on odd length or a character other than 0-9a-f
// (naming `what`): lower-case only, so every signature and key has one spelling.
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex, const std::string& what = "hex string");

}  // namespace tdml::util
