#include "tdml/federation/local.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "federation/tls.h"
#include "tdml/dist/launcher.h"
#include "tdml/federation/client.h"
#include "tdml/federation/server.h"
#include "tdml/fl/client.h"
#include "tdml/fl/shards.h"
#include "tdml/ledger/key_files.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::federation {
namespace {

namespace fs = std::filesystem;

constexpr const char kPartyVar[] = "TDML_FL_PARTY";

std::string client_id(int k) { return "client-" + std::to_string(k); }

// The folder of the parties' keys, shards, certificates and the server's port.
std::string parties_dir(const fl::RunnerOptions& o) { return o.out_dir + "/parties"; }

std::string shards_dir(const fl::RunnerOptions& o, const LocalOptions& lo) {
  return lo.shards.empty() ? parties_dir(o) + "/shards" : lo.shards;
}

void check(const fl::RunnerOptions& o, const LocalOptions& lo) {
  if (lo.processes < 2) throw UsageError("fl --nproc needs at least 2 (a server and a client)");
  if (fl::make_attack_plan(o).any_adaptive()) {
    throw UsageError("fl --nproc: alie, ipm and minmax are omniscient (they craft their update "
                     "from the round's benign updates, which a client process never sees); "
                     "run them in the simulation (no --nproc)");
  }
  if (o.server.aggregator.rule == "fltrust") {
    throw UsageError("fl --nproc: fltrust needs a clean root set on the server, which a "
                     "federation server does not hold; run it in the simulation (no --nproc)");
  }
  if (o.clients != lo.processes - 1) {
    throw UsageError("fl --nproc " + std::to_string(lo.processes) + " runs a server and " +
                     std::to_string(lo.processes - 1) + " clients, but --clients is " +
                     std::to_string(o.clients));
  }
  if (o.out_dir.empty()) throw UsageError("fl --nproc needs --out DIR");
}

// Keys (one folder per party), the enrolment, shards and the loopback certificates.
void write_parties(const data::Dataset& train, const data::Dataset& test,
                   const fl::RunnerOptions& o, const LocalOptions& lo) {
  const auto dir = parties_dir(o);
  fs::remove_all(dir);
  util::make_dirs(dir);
  ledger::write_key_pair(dir + "/server", ledger::kServerKeyId);
  std::vector<ledger::PublicKey> enrolled;
  for (int k = 0; k < o.clients; ++k) {
    enrolled.push_back(ledger::write_key_pair(dir + "/" + client_id(k), client_id(k)));
  }
  ledger::write_enrollment(dir + "/enrolled.json", enrolled);
  if (lo.shards.empty()) {
    fl::SplitOptions so;
    so.partition = {o.partition, o.clients, o.per_client, o.dirichlet_alpha, o.seed};
    fl::write_shards(train, test, lo.data_description, shards_dir(o, lo), so);
  }
  write_loopback_certificates(dir + "/tls");
}

// Intra-op threads of one party: the clients train at once, each on its share of the cores.
int party_threads(const fl::RunnerOptions& o, const LocalOptions& lo) {
  if (lo.threads > 0) return lo.threads;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, o.clients));
}

// The port the server wrote once listening (the clients start with it).
int wait_for_port(const std::string& path, double timeout_s) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && !in.eof() && !line.empty()) return std::stoi(line);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error("fl --nproc: the server wrote no port to " + path + " within " +
              std::to_string(static_cast<int>(timeout_s)) + " s");
}

int run_local_server(fl::RunnerOptions o, const LocalOptions& lo) {
  const auto dir = parties_dir(o);
  ServerOptions s;
  s.listen = "127.0.0.1:0";
  s.tls_cert = dir + "/tls/server.crt";
  s.tls_key = dir + "/tls/server.key";
  s.enrolled = dir + "/enrolled.json";
  s.key = ledger::secret_key_path(dir + "/server", ledger::kServerKeyId);
  s.round_timeout = lo.round_timeout;
  s.join_timeout = lo.round_timeout;
  s.min_available = o.clients;  // every client joins before round 1, as in the simulation
  s.ledger = lo.ledger;
  s.port_file = dir + "/port";
  s.data_description = lo.data_description;
  s.manifest = shards_dir(o, lo) + "/manifest.json";
  s.trust = "simulation";
  // The operator launched the attackers: measure the backdoor as the simulation does.
  o.eval_trigger = o.eval_trigger || fl::make_attack_plan(o).any_backdoor();
  run_server(fl::load_server_test(shards_dir(o, lo)), o, s);
  return 0;
}

int run_local_client(const fl::RunnerOptions& o, const LocalOptions& lo, int k) {
  const auto dir = parties_dir(o);
  ClientOptions c;
  c.server = "127.0.0.1:" + std::to_string(wait_for_port(dir + "/port", lo.round_timeout));
  c.tls_ca = dir + "/tls/ca.crt";
  c.id = client_id(k);
  c.key = ledger::secret_key_path(dir + "/" + c.id, c.id);
  c.data = shards_dir(o, lo) + "/" + c.id;
  c.out = o.out_dir + "/clients/" + c.id;
  c.server_pubkey = ledger::public_key_path(dir + "/server", ledger::kServerKeyId);
  const auto plan = fl::make_attack_plan(o);
  c.attack = plan.of(k).to_string();
  c.attack_options = o.attack;
  c.connect_timeout = 60;
  c.device = o.device.str();
  return run_client(c);
}

}  // namespace

std::string local_party() {
  const char* p = std::getenv(kPartyVar);
  return p ? p : "";
}

int launch_local_federation(const data::Dataset& train, const data::Dataset& test,
                            const fl::RunnerOptions& o, const LocalOptions& lo) {
  check(o, lo);
  o.validate();
  const bool resume =
      fs::exists(o.out_dir + "/server-state.json") && fs::exists(parties_dir(o) + "/enrolled.json");
  if (resume) {
    spdlog::info("fl --nproc: resuming with the parties of {}", parties_dir(o));
  } else {
    write_parties(train, test, o, lo);
  }
  fs::remove(parties_dir(o) + "/port");
  spdlog::info(
      "fl --nproc {}: a server and {} clients on loopback (TLS), each party with its own "
      "key in {}; one operator holds them all: trust mode \"simulation\"",
      lo.processes, o.clients, parties_dir(o));
  const auto threads = "TDML_FL_PARTY_THREADS=" + std::to_string(party_threads(o, lo));
  std::vector<dist::ProcessSpec> parties{
      {"server", {std::string(kPartyVar) + "=server", threads}, true}};
  for (int k = 0; k < o.clients; ++k) {
    parties.push_back(
        {client_id(k), {std::string(kPartyVar) + "=" + client_id(k), threads}, false});
  }
  dist::LaunchOptions launch;
  launch.grace = std::chrono::seconds(10);  // clients end once the server says so
  return dist::launch_processes(parties, launch);
}

int run_local_party(const fl::RunnerOptions& o, const LocalOptions& lo) {
  check(o, lo);
  const char* t = std::getenv("TDML_FL_PARTY_THREADS");
  util::set_threads(t ? std::atoi(t) : party_threads(o, lo));
  const auto party = local_party();
  if (party == "server") return run_local_server(o, lo);
  for (int k = 0; k < o.clients; ++k) {
    if (party == client_id(k)) return run_local_client(o, lo, k);
  }
  throw UsageError(std::string(kPartyVar) + "=" + party + " names no party of this run");
}

}  // namespace tdml::federation
