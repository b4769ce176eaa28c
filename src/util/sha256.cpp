#include "tdml/util/sha256.h"

#include <openssl/evp.h>

#include "tdml/util/error.h"

namespace tdml::util {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  TDML_CHECK(ctx_->md && EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1,
             "OpenSSL: cannot initialise SHA-256");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) {
  TDML_CHECK(EVP_DigestUpdate(ctx_->md, data, size) == 1, "OpenSSL: SHA-256 update failed");
}

std::string Sha256::digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  TDML_CHECK(EVP_DigestFinal_ex(ctx_->md, out, &n) == 1, "OpenSSL: SHA-256 final failed");
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string Sha256::to_hex(std::string_view bytes) { return util::to_hex(bytes); }

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex();
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 15];
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case too: one spelling per value (a signed file stays byte-unique)
}
}  // namespace

std::string from_hex(std::string_view hex, const std::string& what) {
  if (hex.size() % 2 != 0) throw Error(what + " has an odd number of hex digits");
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      throw Error(what + " is not lower-case hex (character " + std::to_string(2 * i) + ")");
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

}  // namespace tdml::util
