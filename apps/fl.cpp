// `tdml fl`: federated learning under attack (clients simulated in one process).
// PENDING: rename to apps/fl.cpp once the data/ and models/ implementations are merged (it
// links against data::load_data, data::normalize, models::make_model).
#include <ATen/Parallel.h>

#include "command.h"
#include "tdml/data/source.h"
#include "tdml/fl/runner.h"
#include "tdml/util/error.h"

namespace {

int run_fl(int argc, char** argv) {
  tdml::fl::RunnerOptions o;
  cxxopts::Options opts(argv[0], "Federated learning with attacks, robust aggregation, detection");
  auto v = [](auto x) { return cxxopts::value<decltype(x)>()->default_value(std::to_string(x)); };
  opts.add_options()("data", "DIR | synthetic | auto",
                     cxxopts::value<std::string>()->default_value("auto"))(
      "model", "tinycnn | smallcifarcnn | resnet50",
      cxxopts::value<std::string>()->default_value(o.model))("clients", "simulated clients",
                                                             v(o.clients))(
      "per-client", "iid samples per client (0 = train size / clients)", v(o.per_client))(
      "partition", "iid | dirichlet", cxxopts::value<std::string>()->default_value(o.partition))(
      "alpha", "dirichlet concentration", v(o.dirichlet_alpha))("rounds", "communication rounds",
                                                                v(o.rounds))(
      "local", "client mode: gradient (study) | train (FedAvg)",
      cxxopts::value<std::string>()->default_value("gradient"))(
      "server-lr", "server step (-1: 0.3 gradient, 1.0 train)", v(o.server_lr))(
      "local-epochs", "train mode: local epochs", v(o.local_epochs))(
      "client-lr", "train mode: client SGD lr", v(o.client_lr))("batch-size", "client batch size",
                                                                v(o.batch_size))(
      "no-augment", "no crop/flip on client batches")("seed", "seed of everything", v(o.seed))(
      "malicious", "malicious clients (-1: int(clients * fraction))", v(o.malicious))(
      "malicious-fraction", "fraction of malicious clients", v(o.malicious_fraction))(
      "attacks",
      "mix cycled over malicious clients, e.g. backdoor,zero,mean-shift,gaussian or "
      "backdoor+model-replacement",
      cxxopts::value<std::string>()->default_value(o.attacks))("shift", "mean-shift value",
                                                               v(o.attack.shift))(
      "sigma", "gaussian attack sigma", v(o.attack.sigma))("boost", "model-replacement boost",
                                                           v(o.attack.boost))(
      "poison-rate", "backdoor: poisoned fraction", v(o.attack.poison_rate))(
      "trigger-size", "backdoor: trigger side (px)", v(o.attack.trigger_size))(
      "target", "backdoor: target class", v(o.attack.target))(
      "flip-from", "label flip: class (-1 = all c -> 9-c)", v(o.attack.flip_from))(
      "flip-to", "label flip: new class", v(o.attack.flip_to))(
      "agg", "mean | median | trimmed-mean | krum | multi-krum | geomed",
      cxxopts::value<std::string>()->default_value(o.server.aggregator.rule))(
      "trim", "trimmed-mean fraction per end", v(o.server.aggregator.trim))(
      "allow-no-trim", "accept a trim that removes nothing")(
      "median-average", "even count: average the middle values (numpy) instead of the lower")(
      "krum-f", "krum: Byzantine clients assumed", v(o.server.aggregator.f))(
      "multi-krum-m", "multi-krum: updates averaged (0 = n - f)",
      v(o.server.aggregator.multi_krum_m))("clip", "L2 clip norm (0 = off)", v(o.server.clip_norm))(
      "no-detect", "no detection scores")("exclude-flagged",
                                          "drop flagged clients before aggregation")(
      "detect-k", "distance threshold (robust sd)", v(o.server.detection.k))(
      "eval-limit", "test images per evaluation (0 = all)", v(o.eval_limit))(
      "threads", "torch intra-op threads (0 = all cores)",
      cxxopts::value<int>()->default_value("0"))(
      "metrics", "metrics JSON path",
      cxxopts::value<std::string>()->default_value("fl_metrics.json"));
  cxxopts::ParseResult r;
  if (!tdml::app::parse(opts, argc, argv, r)) return 0;
  o.model = r["model"].as<std::string>();
  o.clients = r["clients"].as<int>();
  o.per_client = r["per-client"].as<std::int64_t>();
  o.partition = r["partition"].as<std::string>();
  o.dirichlet_alpha = r["alpha"].as<double>();
  o.rounds = r["rounds"].as<int>();
  const auto local = r["local"].as<std::string>();
  if (local != "gradient" && local != "train")
    throw tdml::UsageError("--local must be gradient or train");
  o.mode = local == "train" ? "local" : "gradient";
  o.server_lr = r["server-lr"].as<double>();
  o.local_epochs = r["local-epochs"].as<int>();
  o.client_lr = r["client-lr"].as<double>();
  o.batch_size = r["batch-size"].as<std::int64_t>();
  o.augment = !r.count("no-augment");
  o.seed = r["seed"].as<std::uint64_t>();
  o.malicious = r["malicious"].as<int>();
  o.malicious_fraction = r["malicious-fraction"].as<double>();
  o.attacks = r["attacks"].as<std::string>();
  o.attack.shift = r["shift"].as<double>();
  o.attack.sigma = r["sigma"].as<double>();
  o.attack.boost = r["boost"].as<double>();
  o.attack.poison_rate = r["poison-rate"].as<double>();
  o.attack.trigger_size = r["trigger-size"].as<int>();
  o.attack.target = r["target"].as<std::int64_t>();
  o.attack.flip_from = r["flip-from"].as<std::int64_t>();
  o.attack.flip_to = r["flip-to"].as<std::int64_t>();
  o.server.aggregator.rule = r["agg"].as<std::string>();
  o.server.aggregator.trim = r["trim"].as<double>();
  o.server.aggregator.allow_no_trim = r.count("allow-no-trim") > 0;
  o.server.aggregator.median_average_middle = r.count("median-average") > 0;
  o.server.aggregator.f = r["krum-f"].as<int>();
  o.server.aggregator.multi_krum_m = r["multi-krum-m"].as<int>();
  o.server.clip_norm = r["clip"].as<double>();
  o.server.detect = !r.count("no-detect");
  o.server.detection.exclude_flagged = r.count("exclude-flagged") > 0;
  o.server.detection.k = r["detect-k"].as<double>();
  o.eval_limit = r["eval-limit"].as<std::int64_t>();
  o.metrics_path = r["metrics"].as<std::string>();
  const int threads = r["threads"].as<int>();
  at::set_num_threads(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
  auto data = tdml::data::load_data(r["data"].as<std::string>());
  tdml::fl::run_federated(data.train, data.test, o, data.description);
  return 0;
}

tdml::app::Registration reg("fl", "federated learning under attack (robust aggregation, detection)",
                            run_fl);

}  // namespace
