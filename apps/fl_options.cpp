// The options of `tdml fl`, grouped as its --help shows them.
#include "fl_options.h"

#include "option_groups.h"

#include <sstream>

#include "tdml/util/device.h"
#include "tdml/util/error.h"

namespace tdml::app {

void add_fl_options(cxxopts::Options& opts) {
  fl::RunnerOptions o;
  auto v = [](auto x) { return cxxopts::value<decltype(x)>()->default_value(std::to_string(x)); };
  auto str = [](const std::string& x) { return cxxopts::value<std::string>()->default_value(x); };
  // clang-format off
  add_model_data_options(opts, o.model, "the study's FL model");
  opts.add_options("Clients and data")
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
      ("augment", "random crop + flip on client batches (--augment=false to disable)", cxxopts::value<bool>()->default_value("true"));
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
      ("f,krum-f", "krum / multi-krum: Byzantine clients assumed", v(o.server.aggregator.f))
      ("multi-krum-m", "multi-krum: updates averaged (0 = n - f)", v(o.server.aggregator.multi_krum_m))
      ("max-norm", "L2 clip of every update before aggregation (0 = off)", v(o.server.clip_norm))
      ("detect", "detection scores (--detect=false to disable)", cxxopts::value<bool>()->default_value("true"))
      ("exclude-flagged", "drop flagged clients before aggregation")
      ("detect-k", "distance/norm threshold in robust standard deviations", v(o.server.detection.k));
  opts.add_options("Output")
      ("limit-test-batches", "evaluate on N test batches (0 = all)", v(o.limit_test_batches))
      ("eval-batch-size", "images per evaluation batch", v(o.eval_batch_size))
      ("eval-trigger", "measure the backdoor trigger's success rate even with no backdoor client (baseline)");
  add_performance_options(opts);
  add_output_options(opts, "runs/fl", "metrics.json, fl.log");
  add_ledger_options(opts, "round");
  opts.add_options("Ledger")
      ("forge-client", "demo/test: these clients sign with a wrong key (e.g. 2,5)", str(""));
  // clang-format on
}

fl::RunnerOptions fl_options_from(const cxxopts::ParseResult& r) {
  fl::RunnerOptions o;
  const auto md = model_data_from(r);
  o.model = md.model;
  o.seed = md.seed;
  const auto perf = performance_from(r);
  if (perf.amp == "fp16") throw UsageError("fl: --amp fp16 is not supported (use bf16 or off)");
  o.device = util::resolve_device(perf.device);
  o.amp = train::parse_amp(perf.amp, o.device);
  o.channels_last = perf.channels_last;
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
  o.augment = r["augment"].as<bool>();
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
  o.server.detect = r["detect"].as<bool>();
  o.server.detection.exclude_flagged = r.count("exclude-flagged") > 0;
  o.server.detection.k = r["detect-k"].as<double>();
  o.server.detection.norm_k = o.server.detection.k;
  o.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  o.eval_batch_size = r["eval-batch-size"].as<std::int64_t>();
  o.eval_trigger = r.count("eval-trigger") > 0;
  o.out_dir = r["out"].as<std::string>();
  o.validate();
  return o;
}

std::set<int> forging_clients_from(const cxxopts::ParseResult& r) {
  std::set<int> out;
  std::stringstream forged(r["forge-client"].as<std::string>());
  for (std::string c; std::getline(forged, c, ',');) {
    if (c.empty() || c.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError("--forge-client " + r["forge-client"].as<std::string>() +
                       ": expected client ids such as 2,5");
    }
    out.insert(std::stoi(c));
  }
  return out;
}

}  // namespace tdml::app
