#pragma once
// gRPC credentials, message bounds and keepalives shared by the federation's server and client.
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>

#include "tdml/federation/client.h"
#include "tdml/federation/server.h"

namespace tdml::federation {

// TLS from --tls-cert/--tls-key (client certificates required when --tls-client-ca is set), or
// plaintext with --insecure.
std::shared_ptr<grpc::ServerCredentials> server_credentials(const ServerOptions& o);
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const ClientOptions& o);

// The largest message the server accepts for a model of `elements` float32 values: a chunk of
// the model's tensors (kChunkBytes, or the whole model when smaller) plus 64 KiB of fields.
int max_message_bytes(std::int64_t elements);

// HTTP/2 pings so a dead peer is noticed within about `timeout_s` seconds.
void set_keepalive(grpc::ServerBuilder& builder, double timeout_s);
grpc::ChannelArguments channel_arguments(double timeout_s);

// Writes DIR/ca.crt, DIR/server.crt (signed by that CA, for 127.0.0.1 and localhost) and
// DIR/server.key (0600), fresh keys each call: the TLS of a local federation (`tdml fl --nproc`).
void write_loopback_certificates(const std::string& dir);

// A PEM file's contents; tdml::UsageError naming the option when it cannot be read.
std::string read_pem(const std::string& path, const char* option);

}  // namespace tdml::federation
