#include "federation/tls.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "federation/chunks.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::federation {

std::string read_pem(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(std::string(option) + ": cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    throw UsageError(std::string(option) + ": " + path + " is not a PEM file");
  }
  return ss.str();
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const ServerOptions& o) {
  if (o.insecure) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      o.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_key_cert_pairs.push_back(
      {read_pem(o.tls_key, "--tls-key"), read_pem(o.tls_cert, "--tls-cert")});
  if (!o.tls_client_ca.empty()) ssl.pem_root_certs = read_pem(o.tls_client_ca, "--tls-client-ca");
  return grpc::SslServerCredentials(ssl);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const ClientOptions& o) {
  if (o.insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_pem(o.tls_ca, "--tls-ca");
  if (!o.tls_client_cert.empty()) {
    ssl.pem_cert_chain = read_pem(o.tls_client_cert, "--tls-client-cert");
    ssl.pem_private_key = read_pem(o.tls_client_key, "--tls-client-key");
  }
  return grpc::SslCredentials(ssl);
}

int max_message_bytes(std::int64_t elements) {
  const std::int64_t chunk = std::min<std::int64_t>(elements * 4, kChunkBytes);
  return static_cast<int>(chunk + (64 << 10));
}

void set_keepalive(grpc::ServerBuilder& b, double timeout_s) {
  const int ms = static_cast<int>(std::clamp(timeout_s * 1000 / 4, 1000.0, 60000.0));
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ms);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
}

grpc::ChannelArguments channel_arguments(double timeout_s) {
  grpc::ChannelArguments a;
  const int ms = static_cast<int>(std::clamp(timeout_s * 1000 / 4, 1000.0, 60000.0));
  a.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ms);
  a.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms);
  a.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  a.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  a.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return a;
}

}  // namespace tdml::federation

namespace tdml::federation {
namespace {

namespace fs = std::filesystem;
using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

Key new_ec_key() {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  TDML_CHECK(key, "cannot generate a TLS key (OpenSSL EVP_EC_gen)");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  TDML_CHECK(ext && X509_add_ext(cert, ext, -1) == 1, "cannot add a TLS certificate extension");
  X509_EXTENSION_free(ext);
}

// A certificate for `subject_key` named `cn`, valid for `days`, signed by issuer_key (issuer
// null: self-signed).
Cert make_certificate(EVP_PKEY* subject_key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
                      long serial, bool ca) {
  Cert cert(X509_new(), X509_free);
  TDML_CHECK(cert, "cannot allocate a TLS certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : cert.get();
  if (ca) {
    add_extension(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    add_extension(cert.get(), iss, NID_ext_key_usage, "serverAuth");
  }
  TDML_CHECK(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "cannot sign a TLS certificate");
  return cert;
}

void write_pem(const std::string& path, const std::function<int(BIO*)>& write, bool secret) {
  BIO* mem = BIO_new(BIO_s_mem());
  TDML_CHECK(mem && write(mem) == 1, "cannot encode " << path << " as PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(mem, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(mem);
  util::write_file_atomic(path, pem);
  if (secret) fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace

void write_loopback_certificates(const std::string& dir) {
  util::make_dirs(dir);
  fs::permissions(dir, fs::perms::owner_all);  // the key is 0600 in a folder only we enter
  auto ca_key = new_ec_key();
  auto ca = make_certificate(ca_key.get(), "tdml loopback CA", nullptr, ca_key.get(), 1, true);
  auto server_key = new_ec_key();
  auto server = make_certificate(server_key.get(), "localhost", ca.get(), ca_key.get(), 2, false);
  write_pem(
      dir + "/ca.crt", [&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); }, false);
  write_pem(
      dir + "/server.crt", [&](BIO* b) { return PEM_write_bio_X509(b, server.get()); }, false);
  write_pem(
      dir + "/server.key",
      [&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
      },
      true);
}

}  // namespace tdml::federation
