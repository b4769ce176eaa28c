// HMAC-SHA256 signer (OpenSSL 3 EVP_MAC).
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tdml/ledger/signer.h"
#include "tdml/util/error.h"

namespace tdml::ledger {
namespace {

class HmacSigner final : public Signer {
 public:
  HmacSigner(std::string id, std::string secret) : id_(std::move(id)), secret_(std::move(secret)) {
    mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    TDML_CHECK(mac_, "OpenSSL: HMAC is not available");
  }
  ~HmacSigner() override {
    OPENSSL_cleanse(secret_.data(), secret_.size());
    EVP_MAC_free(mac_);
  }

  std::string sign(std::string_view message) const override {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    unsigned char out[EVP_MAX_MD_SIZE];
    std::size_t n = 0;
    bool ok = ctx &&
              EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret_.data()),
                           secret_.size(), params) == 1 &&
              EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1 &&
              EVP_MAC_final(ctx, out, &n, sizeof out) == 1;
    EVP_MAC_CTX_free(ctx);
    TDML_CHECK(ok, "OpenSSL: HMAC-SHA256 failed for key " << id_);
    return std::string(reinterpret_cast<const char*>(out), n);
  }

  bool verify(std::string_view message, std::string_view signature) const override {
    std::string expect = sign(message);
    return signature.size() == expect.size() &&
           CRYPTO_memcmp(expect.data(), signature.data(), expect.size()) == 0;
  }

  const std::string& key_id() const override { return id_; }
  Scheme scheme() const override { return Scheme::kHmac; }

 private:
  std::string id_;
  std::string secret_;
  EVP_MAC* mac_ = nullptr;
};

}  // namespace

std::unique_ptr<Signer> make_hmac_signer(const std::string& key_id, const std::string& secret) {
  if (secret.empty()) throw Error("HMAC key " + key_id + " is empty");
  return std::make_unique<HmacSigner>(key_id, secret);
}

}  // namespace tdml::ledger
