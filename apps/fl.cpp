// `tdml fl`: federated learning under attack (robust aggregation, detection); clients simulated
// in this process, or over c10d with --nproc N (rank 0 = server).
#include <spdlog/spdlog.h>

#include "command.h"
#include "dist_options.h"
#include "fl_options.h"
#include "tdml/data/source.h"
#include "tdml/dist/rank.h"
#include "tdml/fl/ledger_hooks.h"
#include "tdml/fl/runner.h"
#include "tdml/fl/shards.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::app {
namespace {

// Runs the federation in this process (comm null) or as one rank of a c10d job.
void run_federation(const cxxopts::ParseResult& r, fl::RunnerOptions o,
                    std::shared_ptr<dist::Comm> comm) {
  if (comm && comm->rank() != 0) o.out_dir.clear();
  std::unique_ptr<fl::FlLedgerRun> ledger;
  if (!r["ledger"].as<std::string>().empty()) {
    fl::FlLedgerOptions lo;
    lo.forging_clients = forging_clients_from(r);
    ledger = fl::open_fl_ledger(r["ledger"].as<std::string>(), r["keys"].as<std::string>(),
                                r["sign"].as<std::string>(), o, !comm || comm->rank() == 0,
                                comm != nullptr, lo);
  }
  const auto hooks = ledger ? ledger->ledger->hooks() : fl::RunHooks{};
  if (const auto shards = r["shards"].as<std::string>(); !shards.empty()) {
    auto set = fl::load_all_shards(shards);
    auto joined = fl::concat_shards(set.clients);
    fl::run_federated_on(joined.train, std::move(joined.part), set.test, o, "shards " + shards,
                         hooks);
  } else {
    auto data = data::load_data(r["data"].as<std::string>());
    fl::run_federated(data.train, data.test, o, data.description, hooks, comm);
  }
  if (ledger && ledger->run.ledger) {
    spdlog::info("ledger: {} blocks appended to {}, {:.3f} s spent signing, verifying and "
                 "appending", ledger->ledger->blocks(), ledger->run.ledger->path(),
                 ledger->ledger->seconds());
  }
}

int run_fl(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Federated learning with attacks, robust aggregation, detection");
  add_fl_options(opts);
  add_dist_options(opts);
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  auto o = fl_options_from(r);
  if (const auto shards = r["shards"].as<std::string>(); !shards.empty()) {
    // One client per shard, as `tdml data split` cut them (--clients follows the manifest).
    // The manifest alone: the shards' images are read once, by run_federation.
    const auto manifest =
        nlohmann::json::parse(util::read_file(shards + "/manifest.json"), nullptr, false);
    if (!manifest.is_object() || !manifest.value("clients", nlohmann::json()).is_array()) {
      throw UsageError("--shards " + shards + ": no manifest.json from tdml data split");
    }
    o.clients = static_cast<int>(manifest["clients"].size());
    if (o.malicious > o.clients) o.malicious = o.clients;
    if (launch_options_from(r).nproc != 1) throw UsageError("--shards runs in one process");
  }
  forging_clients_from(r);  // checked before any worker starts
  const auto launch = launch_options_from(r);
  const bool worker = dist::is_worker_process();
  if (!worker && launch.nproc == 1 && launch.nnodes == 1) {
    util::set_threads(r["threads"].as<int>());  // 0: all cores
    run_federation(r, o, nullptr);
    return 0;
  }
  if (!worker && !r["ledger"].as<std::string>().empty()) {
    fl::check_fl_ledger_keys(r["keys"].as<std::string>(), true, o.clients);
  }
  auto d = dist_options_from(r);
  if (r["backend"].as<std::string>() == "auto") d.backend = dist::BackendKind::kGloo;
  // The ranks run at once: each on its own cores. Updates are CPU tensors (Gloo).
  return dist::launch_or_join(launch, d, {r["threads"].as<int>(), "cpu"},
                              [&](dist::Rank& rank) { run_federation(r, o, rank.comm); });
}

const Registration fl_reg("fl", "Federated learning under attack (robust aggregation, detection)",
                       run_fl);

}  // namespace
}  // namespace tdml::app
