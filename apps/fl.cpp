// `tdml fl`: federated learning under attack (robust aggregation, detection); clients simulated
// in this process, or over c10d with --nproc N (rank 0 = server).

#include <sstream>

#include <spdlog/spdlog.h>

#include "command.h"
#include "dist_options.h"
#include "tdml/fl/ledger_hooks.h"
#include "tdml/data/source.h"
#include "tdml/dist/launcher.h"
#include "tdml/dist/process_group.h"
#include "tdml/fl/runner.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"

namespace {

using tdml::UsageError;

int run_fl(int argc, char** argv) {
  tdml::fl::RunnerOptions o;
  cxxopts::Options opts(argv[0], "Federated learning with attacks, robust aggregation, detection");
  auto v = [](auto x) { return cxxopts::value<decltype(x)>()->default_value(std::to_string(x)); };
  auto str = [](const std::string& x) { return cxxopts::value<std::string>()->default_value(x); };
  // clang-format off
  opts.add_options("Clients and data")
      ("data", "CIFAR-10 DIR | synthetic | auto", str("auto"))
      ("model", "tinycnn | smallcifarcnn | resnet50", str(o.model))
      ("clients", "clients", v(o.clients))
      ("per-client", "iid samples per client (0 = train size / clients)", v(o.per_client))
      ("partition", "iid | dirichlet", str(o.partition))
      ("alpha", "dirichlet concentration (label skew)", v(o.dirichlet_alpha))
      ("rounds", "communication rounds", v(o.rounds))
      ("local", "client work: gradient (study: shard-average gradient) | train (FedAvg)", str("gradient"))
      ("server-lr", "server step (-1: 0.3 gradient, 1.0 train)", v(o.server_lr))
      ("local-epochs", "train: local epochs per round", v(o.local_epochs))
      ("local-lr", "train: client SGD learning rate", v(o.client_lr))
      ("momentum", "train: client SGD momentum", v(o.momentum))
      ("weight-decay", "train: client SGD weight decay", v(o.weight_decay))
      ("batch-size", "client batch size", v(o.batch_size))
      ("no-augment", "no crop/flip on client batches")
      ("amp", "off | bf16 (autocast of the clients' and the evaluation's forward)", str("off"))
      ("channels-last", "NHWC weights and batches (with --amp bf16: the CPU fast path)")
      ("seed", "seed of partition, init, attacks, shuffling", v(o.seed));
  opts.add_options("Attacks")
      ("malicious", "malicious clients, the first ones (-1: int(clients * fraction))", v(o.malicious))
      ("malicious-fraction", "fraction of malicious clients", v(o.malicious_fraction))
      ("attack",
       "mix cycled over the malicious clients: none | zero | mean-shift | gaussian | sign-flip | "
       "backdoor | label-flip | model-replacement, '+' combines (backdoor+model-replacement)",
       str(o.attacks))
      ("shift", "mean-shift value", v(o.attack.shift))
      ("sigma", "gaussian attack sigma", v(o.attack.sigma))
      ("boost", "model-replacement factor", v(o.attack.boost))
      ("poison-rate", "backdoor: poisoned fraction of its samples", v(o.attack.poison_rate))
      ("trigger-size", "backdoor: trigger side (px)", v(o.attack.trigger_size))
      ("target", "backdoor: target class", v(o.attack.target))
      ("flip-from", "label flip: class (-1 = all c -> 9-c)", v(o.attack.flip_from))
      ("flip-to", "label flip: new class", v(o.attack.flip_to));
  opts.add_options("Server")
      ("aggregator", "mean | median | trimmed-mean | krum | multi-krum | geomed", str(o.server.aggregator.rule))
      ("trim", "trimmed-mean: fraction cut at each end", v(o.server.aggregator.trim))
      ("allow-no-trim", "accept a trim that removes nothing (= mean)")
      ("median-average", "even count: average the two middle values instead of the lower")
      ("f,krum-f", "krum / multi-krum: Byzantine clients assumed (also --f)", v(o.server.aggregator.f))
      ("multi-krum-m", "multi-krum: updates averaged (0 = n - f)", v(o.server.aggregator.multi_krum_m))
      ("max-norm", "L2 clip of every update before aggregation (0 = off)", v(o.server.clip_norm))
      ("no-detect", "no detection scores")
      ("exclude-flagged", "drop flagged clients before aggregation")
      ("detect-k", "distance/norm threshold in robust standard deviations", v(o.server.detection.k));
  opts.add_options("Output")
      ("eval-limit", "test images per evaluation (0 = all)", v(o.eval_limit))
      ("eval-trigger", "measure the backdoor trigger's success rate even with no backdoor client (baseline)")
      ("threads", "torch intra-op threads (0 = all cores; with --nproc: each rank its cores)", cxxopts::value<int>()->default_value("0"))
      ("out", "run directory: metrics.json, fl.log", str("runs/fl"))
      ("ledger", "append a signed block per round to this ledger (e.g. runs/fl/ledger.jsonl)", str(""))
      ("keys", "ledger keys from `tdml keys gen` (default: fresh keys in --out/keys)", str(""))
      ("sign", "fresh ledger keys: ed25519 | hmac", str("ed25519"))
      ("forge-client", "demo/test: these clients sign with a wrong key (e.g. 2,5)", str(""));
  // clang-format on
  tdml::app::add_dist_options(opts);
  // cxxopts needs two letters for a long option: accept the study's `--f N` / `--f=N` spelling.
  std::vector<std::string> args(argv, argv + argc);
  for (auto& a : args) {
    if (a == "--f" || a.rfind("--f=", 0) == 0) a = "--krum-f" + a.substr(3);
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  cxxopts::ParseResult r;
  if (!tdml::app::parse(opts, argc, av.data(), r)) return 0;

  const auto launch = tdml::app::launch_options_from(r);
  const bool worker = tdml::dist::is_worker_process();
  if (!worker && (launch.nproc > 1 || launch.nnodes > 1)) {
    if (!r["ledger"].as<std::string>().empty()) {
      tdml::fl::check_fl_ledger_keys(r["keys"].as<std::string>(), true, r["clients"].as<int>());
    }
    return tdml::dist::launch_workers(launch);
  }
  o.model = r["model"].as<std::string>();
  o.clients = r["clients"].as<int>();
  o.per_client = r["per-client"].as<std::int64_t>();
  o.partition = r["partition"].as<std::string>();
  o.dirichlet_alpha = r["alpha"].as<double>();
  o.rounds = r["rounds"].as<int>();
  const auto local = r["local"].as<std::string>();
  if (local != "gradient" && local != "train")
    throw UsageError("--local must be gradient or train");
  o.mode = local == "train" ? "local" : "gradient";
  o.server_lr = r["server-lr"].as<double>();
  o.local_epochs = r["local-epochs"].as<int>();
  o.client_lr = r["local-lr"].as<double>();
  o.momentum = r["momentum"].as<double>();
  o.weight_decay = r["weight-decay"].as<double>();
  o.batch_size = r["batch-size"].as<std::int64_t>();
  o.augment = !r.count("no-augment");
  o.amp = tdml::train::parse_amp(r["amp"].as<std::string>(), o.device);
  o.channels_last = r.count("channels-last") > 0;
  o.seed = r["seed"].as<std::uint64_t>();
  o.malicious = r["malicious"].as<int>();
  o.malicious_fraction = r["malicious-fraction"].as<double>();
  o.attacks = r["attack"].as<std::string>();
  if (o.attacks == "none") o.malicious = 0;
  o.attack.shift = r["shift"].as<double>();
  o.attack.sigma = r["sigma"].as<double>();
  o.attack.boost = r["boost"].as<double>();
  o.attack.poison_rate = r["poison-rate"].as<double>();
  o.attack.trigger_size = r["trigger-size"].as<int>();
  o.attack.target = r["target"].as<std::int64_t>();
  o.attack.flip_from = r["flip-from"].as<std::int64_t>();
  o.attack.flip_to = r["flip-to"].as<std::int64_t>();
  o.server.aggregator.rule = r["aggregator"].as<std::string>();
  o.server.aggregator.trim = r["trim"].as<double>();
  o.server.aggregator.allow_no_trim = r.count("allow-no-trim") > 0;
  o.server.aggregator.median_average_middle = r.count("median-average") > 0;
  o.server.aggregator.f = r["krum-f"].as<int>();
  o.server.aggregator.multi_krum_m = r["multi-krum-m"].as<int>();
  o.server.clip_norm = r["max-norm"].as<double>();
  o.server.detect = !r.count("no-detect");
  o.server.detection.exclude_flagged = r.count("exclude-flagged") > 0;
  o.server.detection.k = r["detect-k"].as<double>();
  o.server.detection.norm_k = o.server.detection.k;
  o.eval_limit = r["eval-limit"].as<std::int64_t>();
  o.eval_trigger = r.count("eval-trigger") > 0;
  o.out_dir = r["out"].as<std::string>();
  o.validate();
  int threads = r["threads"].as<int>();
  std::shared_ptr<tdml::dist::Comm> comm;
  if (worker) {
    auto d = tdml::app::dist_options_from(r);
    if (r["backend"].as<std::string>() == "auto") d.backend = tdml::dist::BackendKind::kGloo;
    try {
      comm = tdml::dist::init_process_group(d);
      threads = tdml::dist::place_rank(*comm, d.cpu_bind, d.local_rank, d.local_world, threads)
                    .threads;  // the ranks run at once: each on its own cores
    } catch (const std::exception& e) {
      tdml::dist::write_elastic_error_file(e.what());
      throw;
    }
    if (comm->rank() != 0) o.out_dir.clear();
  }
  tdml::util::set_threads(threads);  // 0: all cores
  std::unique_ptr<tdml::fl::FlLedgerRun> ledger;
  if (!r["ledger"].as<std::string>().empty()) {
    tdml::fl::FlLedgerOptions lo;
    std::stringstream forged(r["forge-client"].as<std::string>());
    for (std::string c; std::getline(forged, c, ',');) {
      if (c.empty() || c.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--forge-client " + r["forge-client"].as<std::string>() +
                         ": expected client ids such as 2,5");
      lo.forging_clients.insert(std::stoi(c));
    }
    ledger = tdml::fl::open_fl_ledger(r["ledger"].as<std::string>(), r["keys"].as<std::string>(),
                                      r["sign"].as<std::string>(), o, !comm || comm->rank() == 0,
                                      comm != nullptr, lo);
  }
  auto data = tdml::data::load_data(r["data"].as<std::string>());
  try {
    tdml::fl::run_federated(data.train, data.test, o, data.description,
                            ledger ? ledger->ledger->hooks() : tdml::fl::RunHooks{}, comm);
    if (ledger && ledger->run.ledger) {
      spdlog::info("ledger: {} blocks appended to {}, {:.3f} s spent signing, verifying and "
                   "appending", ledger->ledger->blocks(), ledger->run.ledger->path(),
                   ledger->ledger->seconds());
    }
  } catch (const std::exception& e) {
    if (worker) tdml::dist::write_elastic_error_file(e.what());
    throw;
  }
  return 0;
}

tdml::app::Registration reg("fl", "federated learning under attack (robust aggregation, detection)",
                            run_fl);

}  // namespace
