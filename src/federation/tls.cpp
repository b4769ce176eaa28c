#include "federation/tls.h"

#include <algorithm>
#include <climits>
#include <fstream>
#include <sstream>

#include "tdml/util/error.h"

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
  const std::int64_t bytes = elements * 4 + (64 << 10);
  return static_cast<int>(std::min<std::int64_t>(bytes, INT_MAX));
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
