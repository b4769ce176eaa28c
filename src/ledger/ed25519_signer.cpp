// Ed25519 signer and verifier (OpenSSL 3 EVP_PKEY, one-shot EVP_DigestSign/Verify).
#include <openssl/evp.h>

#include "tdml/ledger/signer.h"
#include "tdml/util/error.h"

namespace tdml::ledger {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool verify_with(EVP_PKEY* key, std::string_view message, std::string_view signature) {
  if (signature.size() != 64) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, bytes(signature), signature.size(), bytes(message),
                             message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

class Ed25519Verifier final : public Verifier {
 public:
  Ed25519Verifier(std::string id, const std::string& pub) : id_(std::move(id)) {
    if (pub.size() != 32) throw Error("Ed25519 public key " + id_ + " must be 32 bytes");
    key_.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(pub), pub.size()));
    TDML_CHECK(key_, "OpenSSL: invalid Ed25519 public key " << id_);
  }
  bool verify(std::string_view message, std::string_view signature) const override {
    return verify_with(key_.get(), message, signature);
  }
  const std::string& key_id() const override { return id_; }
  Scheme scheme() const override { return Scheme::kEd25519; }

 private:
  std::string id_;
  Pkey key_;
};

class Ed25519Signer final : public Signer {
 public:
  Ed25519Signer(std::string id, const std::string& seed) : id_(std::move(id)) {
    if (seed.size() != 32) throw Error("Ed25519 secret key " + id_ + " must be 32 bytes");
    key_.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(seed), seed.size()));
    TDML_CHECK(key_, "OpenSSL: invalid Ed25519 secret key " << id_);
  }
  std::string sign(std::string_view message) const override {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char sig[64];
    std::size_t n = sizeof sig;
    bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) == 1 &&
              EVP_DigestSign(ctx, sig, &n, bytes(message), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    TDML_CHECK(ok, "OpenSSL: Ed25519 signing failed for key " << id_);
    return std::string(reinterpret_cast<const char*>(sig), n);
  }
  bool verify(std::string_view message, std::string_view signature) const override {
    return verify_with(key_.get(), message, signature);
  }
  const std::string& key_id() const override { return id_; }
  Scheme scheme() const override { return Scheme::kEd25519; }

 private:
  std::string id_;
  Pkey key_;
};

}  // namespace

std::unique_ptr<Signer> make_ed25519_signer(const std::string& key_id, const std::string& seed) {
  return std::make_unique<Ed25519Signer>(key_id, seed);
}

std::unique_ptr<Verifier> make_ed25519_verifier(const std::string& key_id,
                                                const std::string& public_key) {
  return std::make_unique<Ed25519Verifier>(key_id, public_key);
}

std::string ed25519_public_key(const std::string& seed) {
  if (seed.size() != 32) throw Error("Ed25519 secret key must be 32 bytes");
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(seed), seed.size()));
  unsigned char pub[32];
  std::size_t n = sizeof pub;
  TDML_CHECK(key && EVP_PKEY_get_raw_public_key(key.get(), pub, &n) == 1,
             "OpenSSL: cannot derive an Ed25519 public key");
  return std::string(reinterpret_cast<const char*>(pub), n);
}

}  // namespace tdml::ledger
