#pragma once
// `tdml fl --nproc N`: a federation of one server and N-1 client processes on this machine,
// over the network transport (gRPC with TLS on loopback): the very parties a deployment runs
// (server.h, client.h), started by one operator.
//
// In the launching process, launch_local_federation writes OUT/parties/:
//   server/server.key, server.pub.json   the server's signing key
//   client-K/client-K.key, .pub.json     client K's own key (each party reads only its own)
//   enrolled.json                        the clients' public keys (all the server reads)
//   shards/                              the data as the simulation cuts it (tdml data split),
//                                        unless the run was given --shards
//   tls/ca.crt, server.crt, server.key   a fresh loopback CA and server certificate
// then starts this same command line once per party (TDML_FL_PARTY=server | client-K) and
// waits. A party process sees local_party() and calls run_local_party: the server writes
// OUT/metrics.json, OUT/ledger.jsonl and its state; client K writes OUT/clients/client-K/.
// Trust: one operator made every key, so the server's metrics say "trust": "simulation" (a
// deployment's parties each make their own: "federation").
// With the same options and thread count the final model equals the in-process simulation's.
// A rerun with the same OUT after a crash resumes (the parties folder is kept while OUT holds
// server state); otherwise the parties are made afresh.
// Errors: tdml::UsageError (bad options), tdml::Error (a party failed: the server's error).
#include <string>

#include "tdml/data/dataset.h"
#include "tdml/fl/options.h"

namespace tdml::federation {

struct LocalOptions {
  int processes = 2;           // 1 server + (processes - 1) clients; recipe.clients must agree
  std::string shards;          // existing shards (tdml data split); "" = write them from the data
  std::string ledger;          // the server's ledger ("" = OUT/ledger.jsonl)
  int threads = 0;             // intra-op threads per party (0: the cores / clients, at least 1)
  double round_timeout = 600;  // seconds a round waits for its clients
  std::string data_description;
};

// The party this process plays ("server", "client-3"), or "" when it is not one.
std::string local_party();

// In the launching process: writes OUT/parties (train/test are cut into shards unless
// options.shards is set; they may be empty then) and runs the parties to the end. Returns 0
// when the server completed; throws tdml::Error naming the party that failed otherwise.
int launch_local_federation(const data::Dataset& train, const data::Dataset& test,
                            const fl::RunnerOptions& recipe, const LocalOptions& options);

// In a party process (local_party() not empty): runs that party. Returns its exit code.
int run_local_party(const fl::RunnerOptions& recipe, const LocalOptions& options);

}  // namespace tdml::federation
