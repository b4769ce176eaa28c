#pragma once
// `tdml fl server`: the server of a federation whose clients are independent processes on
// other machines (federation/client.h), over gRPC with TLS (federation.proto).
//
// The server holds public keys only: its own signing key and the enrolled clients' public keys
// (enrolled.json). It decides the model and the recipe and sends them with every round; it runs
// fl::RoundEngine (round_engine.h) with a network UpdateSource:
//   - clients connect at any time; a client is identified by its enrolled id (its index is its
//     position in enrolled.json) and every update must carry that key's signature;
//   - each round samples --clients-per-round of the connected clients (from seed and round),
//     waits up to --round-timeout, names each silent sampled client late or dropped, and
//     retries the round with a new sample while fewer than --min-clients updates are valid;
//   - after the round's block is in the ledger, each admitted client gets a signed receipt,
//     sent again on every reconnection (and after a server restart) until the run ends;
//   - the global state is saved after every round (server_state.h): a server restarted with
//     the same --out resumes its run (same run id) after the last completed round.
// Errors: tdml::UsageError (bad options, a secret among the public keys), tdml::Error (quorum
// never met, the port taken, unreadable keys).
#include <memory>
#include <string>

#include "tdml/data/dataset.h"
#include "tdml/fl/options.h"
#include "tdml/fl/runner.h"

namespace tdml::federation {

struct ServerOptions {
  std::string listen = "0.0.0.0:7000";  // address:port (port 0 = any free port)
  std::string tls_cert, tls_key;        // PEM server certificate and key
  std::string tls_client_ca;            // PEM CA: require client certificates it signed (mTLS)
  bool insecure = false;                // plaintext, for loopback tests (logged, in the ledger)
  std::string enrolled;                 // enrolled.json (public keys)
  std::string key;                      // the server's secret key file (tdml keys gen --id)
  double round_timeout = 120;           // seconds a round waits for the sampled clients
  double join_timeout = 300;            // seconds a round waits for min_available clients
  int min_available = 0;                // connected clients a round waits for before sampling
                                        // (0: max(min-clients, clients-per-round))
  double linger = 0;                    // seconds to keep answering clients that reconnect
                                        // after the end (their receipts, Done) until every
                                        // enrolled client was told
  std::string ledger;                   // ledger path ("" = OUT/ledger.jsonl)
  std::string port_file;                // write the bound port here once listening (tests)
  std::string data_description;         // for metrics.json
  std::string manifest;                 // the shards' manifest.json: its SHA-256 in the genesis
  // Who holds the keys: "federation" (each party made its own) or "simulation" (one operator
  // made them all: `tdml fl --nproc`). In metrics.json and the log.
  std::string trust = "federation";
};

// Test hook (set only by the tests' fault-injection binary): called after round `round` is
// complete and saved (its ledger block and OUT/server-state.json written).
using AfterRoundHook = void (*)(int round);
void set_after_round_hook(AfterRoundHook hook);
// ... called after round `round`'s block is appended, before its state is committed.
void set_after_block_hook(AfterRoundHook hook);

// Runs the federation to the end (recipe.rounds rounds) and returns the engine's result.
// recipe.clients is replaced by the number of enrolled clients.
fl::RunResult run_server(const data::Dataset& test, fl::RunnerOptions recipe,
                         const ServerOptions& options);

}  // namespace tdml::federation
