// The options of `tdml fl`, grouped as its --help shows them.
#include "fl_options.h"

#include "option_groups.h"

#include <sstream>

#include "tdml/util/device.h"
#include "tdml/util/error.h"

namespace tdml::app {

namespace {

auto fl_v = [](auto x) { return cxxopts::value<decltype(x)>()->default_value(std::to_string(x)); };
auto fl_str = [](const std::string& x) { return cxxopts::value<std::string>()->default_value(x); };

}  // namespace

void add_fl_client_options(cxxopts::Options& opts) {
  fl::RunnerOptions o;
  // clang-format off
  opts.add_options("Clients and data")
      ("clients", "clients", fl_v(o.clients))
      ("per-client", "iid samples per client (0 = train size / clients)", fl_v(o.per_client))
      ("partition", "iid | dirichlet", fl_str(o.partition))
      ("alpha", "dirichlet concentration (label skew)", fl_v(o.dirichlet_alpha))
      ("dirichlet-rows", "dirichlet: split a seeded random subset of N training rows among the clients (0 = all)", fl_v(o.dirichlet_rows))
      ("shards", "run on the shards `tdml data split` wrote (client-K = client K) instead of partitioning --data", fl_str(""));
  // clang-format on
}

void add_fl_recipe_options(cxxopts::Options& opts) {
  fl::RunnerOptions o;
  // clang-format off
  opts.add_options("Rounds")
      ("rounds", "communication rounds", fl_v(o.rounds))
      ("clients-per-round", "clients sampled each round, from (seed, round) (0 = all)", fl_v(o.clients_per_round))
      ("min-clients", "valid updates a round needs; fewer: the round is retried with a new sample", fl_v(o.min_clients))
      ("max-round-retries", "retries of a round short of --min-clients before the run fails", fl_v(o.max_round_retries))
      ("local", "client work: gradient (study: shard-average gradient) | train (FedAvg)", fl_str("gradient"))
      ("server-lr", "server step (-1: 0.3 gradient, 1.0 train)", fl_v(o.server_lr))
      ("local-epochs", "train: local epochs per round", fl_v(o.local_epochs))
      ("local-lr", "train: client SGD learning rate", fl_v(o.client_lr))
      ("momentum", "train: client SGD momentum", fl_v(o.momentum))
      ("weight-decay", "train: client SGD weight decay", fl_v(o.weight_decay))
      ("prox-mu", "train: FedProx term mu/2 |w - w_global|^2 on the clients (0 = off)", fl_v(o.prox_mu))
      ("batch-size", "client batch size", fl_v(o.batch_size))
      ("augment", "random crop + flip on client batches (--augment=false to disable)", cxxopts::value<bool>()->default_value("true"));
  // clang-format on
}

void add_fl_attack_options(cxxopts::Options& opts, bool mix) {
  fl::RunnerOptions o;
  // clang-format off
  if (mix) {
    opts.add_options("Attacks")
        ("malicious", "malicious clients, the first ones (-1: int(clients * fraction))", fl_v(o.malicious))
        ("malicious-fraction", "fraction of malicious clients", fl_v(o.malicious_fraction))
        ("attack",
         "mix cycled over the malicious clients: none | zero | mean-shift | gaussian | sign-flip | "
         "backdoor | label-flip | model-replacement, '+' combines (backdoor+model-replacement); "
         "adaptive: alie | ipm | minmax (omniscient and colluding: the attackers see the round's "
         "benign updates, as in their papers; simulation only)",
         fl_str(o.attacks));
  } else {
    opts.add_options("Attacks")
        ("attack",
         "this client's attack: none | zero | mean-shift | gaussian | sign-flip | backdoor | "
         "label-flip | model-replacement, '+' combines (backdoor+model-replacement)", fl_str("none"));
  }
  opts.add_options("Attacks")
      ("shift", "mean-shift value", fl_v(o.attack.shift))
      ("sigma", "gaussian attack sigma", fl_v(o.attack.sigma))
      ("boost", "model-replacement factor", fl_v(o.attack.boost))
      ("alie-z", "alie: fixed z (-1: from the round's n and f, Baruch et al.)", fl_v(o.attack.alie_z))
      ("ipm-eps", "ipm: the attackers send -eps * mean of the benign updates", fl_v(o.attack.ipm_eps))
      ("poison-rate", "backdoor: poisoned fraction of its samples", fl_v(o.attack.poison_rate))
      ("trigger-size", "backdoor: trigger side (px)", fl_v(o.attack.trigger_size))
      ("target", "backdoor: target class", fl_v(o.attack.target))
      ("flip-from", "label flip: class (-1 = all c -> 9-c)", fl_v(o.attack.flip_from))
      ("flip-to", "label flip: new class", fl_v(o.attack.flip_to));
  // clang-format on
}

void add_fl_server_options(cxxopts::Options& opts) {
  fl::RunnerOptions o;
  // clang-format off
  opts.add_options("Server")
      ("aggregator", "mean | median | trimmed-mean | krum | multi-krum | geomed | bulyan | cclip | fltrust", fl_str(o.server.aggregator.rule))
      ("trim", "trimmed-mean: fraction cut at each end", fl_v(o.server.aggregator.trim))
      ("allow-no-trim", "accept a trim that removes nothing (= mean)")
      ("median-average", "even count: average the two middle values instead of the lower")
      ("f,krum-f", "krum / multi-krum: Byzantine clients assumed", fl_v(o.server.aggregator.f))
      ("multi-krum-m", "multi-krum: updates averaged (0 = n - f)", fl_v(o.server.aggregator.multi_krum_m))
      ("cclip-tau", "cclip: clipping radius around the previous aggregate", fl_v(o.server.aggregator.cclip_tau))
      ("cclip-iters", "cclip: clipping iterations per round", fl_v(o.server.aggregator.cclip_iterations))
      ("root-samples", "fltrust: samples of the clean root set the server trains on (simulation: drawn from the training set)", fl_v(100))
      ("bucketing", "average random buckets of S updates before the rule (1 = off; Karimireddy et al. 2022)", fl_v(o.server.bucketing))
      ("server-opt", "server step: sgd | avgm (FedAvgM) | adam (FedAdam, Reddi et al.)", fl_str(o.server_opt.name))
      ("server-momentum", "avgm: server momentum", fl_v(o.server_opt.momentum))
      ("max-norm", "L2 clip of every update before aggregation (0 = off)", fl_v(o.server.clip_norm))
      ("detect", "detection scores (--detect=false to disable)", cxxopts::value<bool>()->default_value("true"))
      ("exclude-flagged", "drop flagged clients before aggregation")
      ("detect-k", "distance/norm threshold in robust standard deviations", fl_v(o.server.detection.k));
  opts.add_options("Differential privacy")
      ("dp-clip", "clip every update to C (L2) for DP (0 = off); central: DP-FedAvg, needs --aggregator mean", fl_v(o.server.dp.clip))
      ("dp-noise", "noise multiplier sigma: N(0, (sigma C)^2) on the sum (central) or on each update (--dp-local)", fl_v(o.server.dp.noise))
      ("dp-local", "local DP: each benign client clips and noises its own update before signing")
      ("dp-delta", "delta the accountant reports eps at", fl_v(o.server.dp.delta))
      ("dp-adaptive-clip", "central: C follows --dp-target-quantile of the update norms (Andrew et al. 2021)")
      ("dp-target-quantile", "adaptive clipping: target fraction of unclipped updates", fl_v(o.server.dp.target_quantile))
      ("dp-clip-lr", "adaptive clipping: geometric step of C", fl_v(o.server.dp.clip_lr))
      ("dp-count-noise", "adaptive clipping: std of the noise on the unclipped count (-1: sampled/20)", fl_v(o.server.dp.count_noise));
  opts.add_options("Output")
      ("limit-test-batches", "evaluate on N test batches (0 = all)", fl_v(o.limit_test_batches))
      ("eval-batch-size", "images per evaluation batch", fl_v(o.eval_batch_size))
      ("eval-every", "evaluate after every N-th round and the last (metrics: null accuracy between)", fl_v(o.eval_every))
      ("eval-trigger", "measure the backdoor trigger's success rate even with no backdoor client (baseline)");
  // clang-format on
}

void add_fl_options(cxxopts::Options& opts) {
  fl::RunnerOptions o;
  add_model_data_options(opts, o.model, "the study's FL model");
  add_fl_client_options(opts);
  add_fl_recipe_options(opts);
  add_fl_attack_options(opts, true);
  add_fl_server_options(opts);
  add_performance_options(opts);
  add_output_options(opts, "runs/fl", "metrics.json, fl.log");
  add_ledger_options(opts, "round");
  opts.add_options("Ledger")(
      "forge-client", "demo/test: these clients sign with a wrong key (e.g. 2,5)", fl_str(""));
}

void fl_recipe_from(const cxxopts::ParseResult& r, fl::RunnerOptions& o) {
  o.rounds = r["rounds"].as<int>();
  o.clients_per_round = r["clients-per-round"].as<int>();
  o.min_clients = r["min-clients"].as<int>();
  o.max_round_retries = r["max-round-retries"].as<int>();
  if (o.clients_per_round < 0 || o.min_clients < 1 || o.max_round_retries < 0) {
    throw UsageError("--clients-per-round must be >= 0, --min-clients >= 1, "
                     "--max-round-retries >= 0");
  }
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
  o.prox_mu = r["prox-mu"].as<double>();
}

fl::AttackOptions fl_attack_options_from(const cxxopts::ParseResult& r) {
  fl::AttackOptions a;
  a.shift = r["shift"].as<double>();
  a.sigma = r["sigma"].as<double>();
  a.boost = r["boost"].as<double>();
  a.alie_z = r["alie-z"].as<double>();
  a.ipm_eps = r["ipm-eps"].as<double>();
  a.poison_rate = r["poison-rate"].as<double>();
  a.trigger_size = r["trigger-size"].as<int>();
  a.target = r["target"].as<std::int64_t>();
  a.flip_from = r["flip-from"].as<std::int64_t>();
  a.flip_to = r["flip-to"].as<std::int64_t>();
  return a;
}

void fl_server_from(const cxxopts::ParseResult& r, fl::RunnerOptions& o) {
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
  o.server.aggregator.cclip_tau = r["cclip-tau"].as<double>();
  o.server.aggregator.cclip_iterations = r["cclip-iters"].as<int>();
  o.server.root_samples = o.server.aggregator.rule == "fltrust" ? r["root-samples"].as<int>() : 0;
  o.server.bucketing = r["bucketing"].as<int>();
  o.server_opt.name = r["server-opt"].as<std::string>();
  o.server_opt.momentum = r["server-momentum"].as<double>();
  auto& dp = o.server.dp;
  dp.clip = r["dp-clip"].as<double>();
  dp.noise = r["dp-noise"].as<double>();
  dp.local = r.count("dp-local") > 0;
  dp.delta = r["dp-delta"].as<double>();
  dp.adaptive = r.count("dp-adaptive-clip") > 0;
  dp.target_quantile = r["dp-target-quantile"].as<double>();
  dp.clip_lr = r["dp-clip-lr"].as<double>();
  dp.count_noise = r["dp-count-noise"].as<double>();
  o.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  o.eval_batch_size = r["eval-batch-size"].as<std::int64_t>();
  o.eval_every = r["eval-every"].as<int>();
  o.eval_trigger = r.count("eval-trigger") > 0;
}

void fl_model_perf_from(const cxxopts::ParseResult& r, fl::RunnerOptions& o) {
  const auto md = model_data_from(r);
  o.model = md.model;
  o.seed = md.seed;
  const auto perf = performance_from(r);
  if (perf.amp == "fp16") throw UsageError("fl: --amp fp16 is not supported (use bf16 or off)");
  o.device = util::resolve_device(perf.device);
  o.amp = train::parse_amp(perf.amp, o.device);
  o.channels_last = perf.channels_last;
}

fl::RunnerOptions fl_options_from(const cxxopts::ParseResult& r) {
  fl::RunnerOptions o;
  fl_model_perf_from(r, o);
  o.clients = r["clients"].as<int>();
  o.per_client = r["per-client"].as<std::int64_t>();
  o.partition = r["partition"].as<std::string>();
  o.dirichlet_alpha = r["alpha"].as<double>();
  o.dirichlet_rows = r["dirichlet-rows"].as<std::int64_t>();
  if (o.dirichlet_rows < 0) throw UsageError("--dirichlet-rows must be >= 0 (0 = all rows)");
  fl_recipe_from(r, o);
  o.malicious = r["malicious"].as<int>();
  o.malicious_fraction = r["malicious-fraction"].as<double>();
  o.attacks = r["attack"].as<std::string>();
  if (o.attacks == "none") o.malicious = 0;
  o.attack = fl_attack_options_from(r);
  fl_server_from(r, o);
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
