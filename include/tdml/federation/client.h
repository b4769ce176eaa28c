#pragma once
// `tdml fl client`: one party of a federation, on its own machine with its own key and data.
//
// It connects to the server (TLS, or mutual TLS with a client certificate), says who it is,
// and for every round it is sampled in: trains on its shard with the server's recipe and the
// global state it received, applies its own attack when it is a malicious client (chosen by
// this process, as a real attacker would), signs the claim with its own key (the secret never
// leaves this process) and sends the update. It keeps the server's signed receipts in
// OUT/receipts.jsonl, one copy each (the server sends them again on every connection), and
// writes OUT/metrics.json (rounds taken part in, local loss, bytes, receipts); a client
// restarted with the same OUT continues both. A lost connection is retried with backoff (up to
// --connect-timeout seconds without one); the client takes part again from the next round it
// is sampled in.
// Errors: tdml::UsageError (bad options), tdml::Error (refused by the server, never connected).
#include <cstddef>
#include <string>

#include "tdml/fl/attacks.h"
#include "tdml/train/amp.h"

namespace tdml::federation {

struct ClientOptions {
  std::string server;                       // HOST:PORT
  std::string tls_ca;                       // PEM CA that signed the server's certificate
  std::string tls_client_cert, tls_client_key;  // mutual TLS (optional)
  bool insecure = false;                    // plaintext, loopback tests only
  std::string id;                           // enrolled id, e.g. client-3
  std::string key;                          // its secret key file (tdml keys gen --id)
  std::string data;                         // its shard directory (tdml data split)
  std::string out;                          // receipts.jsonl, metrics.json, client.log
  std::string server_pubkey;                // server.pub.json: check every receipt's signature
                                            // ("" = keep receipts unchecked)
  std::string attack = "none";              // e.g. backdoor+model-replacement
  fl::AttackOptions attack_options;
  double connect_timeout = 60;  // seconds to keep trying while not connected
  std::string device = "cpu";
};

// Test hook (set only by the tests' fault-injection binary): called before a client sends its
// signed update for `round` with the update's wire bytes and the chunk size, e.g. to sleep past
// the deadline, to garble, shorten or inflate the bytes, or to send them in one message.
using BeforeSendHook = void (*)(int round, std::string* update_bytes, std::size_t* chunk_bytes);
void set_before_send_hook(BeforeSendHook hook);
// ... called when a receipt for `round` arrives; returning true drops the connection instead of
// keeping the receipt (a connection lost just before the receipt reached the client).
using ReceiptHook = bool (*)(int round);
void set_receipt_hook(ReceiptHook hook);

// Runs until the server says the run is over. Returns the process exit code (0 = the run
// completed). Throws tdml::Error when refused or unable to connect.
int run_client(const ClientOptions& options);

}  // namespace tdml::federation
