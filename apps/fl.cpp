// `tdml fl`: federated learning under attack (robust aggregation, detection): the clients
// simulated in this process, or with --nproc N a local federation of one server and N-1 client
// processes over gRPC with TLS (tdml/federation/local.h).
#include <spdlog/spdlog.h>

#include "command.h"
#include "fl_options.h"
#include "tdml/data/source.h"
#include "tdml/federation/local.h"
#include "tdml/fl/ledger_hooks.h"
#include "tdml/fl/runner.h"
#include "tdml/fl/shards.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::app {
namespace {

// The in-process simulation.
void run_simulation(const cxxopts::ParseResult& r, const fl::RunnerOptions& o) {
  std::unique_ptr<fl::FlLedgerRun> ledger;
  if (!r["ledger"].as<std::string>().empty()) {
    fl::FlLedgerOptions lo;
    lo.forging_clients = forging_clients_from(r);
    ledger = fl::open_fl_ledger(r["ledger"].as<std::string>(), r["keys"].as<std::string>(),
                                r["sign"].as<std::string>(), o, lo);
  }
  const auto hooks = ledger ? ledger->ledger->hooks() : fl::RunHooks{};
  if (const auto shards = r["shards"].as<std::string>(); !shards.empty()) {
    auto set = fl::load_all_shards(shards);
    auto joined = fl::concat_shards(set.clients);
    fl::run_federated_on(joined.train, std::move(joined.part), set.test, o, "shards " + shards,
                         hooks);
  } else {
    auto data = data::load_data(r["data"].as<std::string>());
    fl::run_federated(data.train, data.test, o, data.description, hooks);
  }
  if (ledger && ledger->run.ledger) {
    spdlog::info(
        "ledger: {} blocks appended to {}, {:.3f} s spent signing, verifying and "
        "appending",
        ledger->ledger->blocks(), ledger->run.ledger->path(), ledger->ledger->seconds());
  }
}

// One client per shard, as `tdml data split` cut them: the manifest alone (the shards' images
// are read once, by whoever trains on them).
int shard_clients(const std::string& shards) {
  const auto manifest =
      nlohmann::json::parse(util::read_file(shards + "/manifest.json"), nullptr, false);
  if (!manifest.is_object() || !manifest.value("clients", nlohmann::json()).is_array()) {
    throw UsageError("--shards " + shards + ": no manifest.json from tdml data split");
  }
  return static_cast<int>(manifest["clients"].size());
}

// --nproc N: a server and N-1 client processes, each party with its own key and shard.
int run_local(const cxxopts::ParseResult& r, const fl::RunnerOptions& o, int nproc) {
  if (!r["keys"].as<std::string>().empty() || r["sign"].as<std::string>() != "ed25519" ||
      !forging_clients_from(r).empty()) {
    throw UsageError(
        "fl --nproc: every party makes its own Ed25519 key (--keys, --sign and "
        "--forge-client are for the in-process simulation)");
  }
  federation::LocalOptions lo;
  lo.processes = nproc;
  lo.shards = r["shards"].as<std::string>();
  lo.ledger = r["ledger"].as<std::string>();
  lo.threads = r["threads"].as<int>();
  lo.round_timeout = r["round-timeout"].as<double>();
  lo.data_description = lo.shards.empty() ? r["data"].as<std::string>() : "shards " + lo.shards;
  if (!federation::local_party().empty()) return federation::run_local_party(o, lo);
  if (!lo.shards.empty()) return federation::launch_local_federation({}, {}, o, lo);
  auto data = data::load_data(r["data"].as<std::string>());
  lo.data_description = data.description;
  return federation::launch_local_federation(data.train, data.test, o, lo);
}

int run_fl(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Federated learning with attacks, robust aggregation, detection");
  add_fl_options(opts);
  // clang-format off
  opts.add_options("Processes")
      ("nproc", "1: the clients simulated in this process; N: a local federation of one server and N-1 client processes over gRPC with TLS (--clients N-1)", cxxopts::value<int>()->default_value("1"))
      ("round-timeout", "--nproc: seconds a round waits for its clients", cxxopts::value<double>()->default_value("600"));
  // clang-format on
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  const int nproc = r["nproc"].as<int>();
  if (nproc < 1) throw UsageError("--nproc must be >= 1");
  auto o = fl_options_from(r);
  if (const auto shards = r["shards"].as<std::string>(); !shards.empty()) {
    o.clients = shard_clients(shards);
  } else if (nproc > 1 && r.count("clients") == 0) {
    o.clients = nproc - 1;
  }
  if (o.malicious > o.clients) o.malicious = o.clients;
  o.validate();
  if (nproc > 1) return run_local(r, o, nproc);
  forging_clients_from(r);                    // checked before any work
  util::set_threads(r["threads"].as<int>());  // 0: all cores
  run_simulation(r, o);
  return 0;
}

const Registration fl_reg("fl", "Federated learning under attack (robust aggregation, detection)",
                          run_fl);

}  // namespace
}  // namespace tdml::app
