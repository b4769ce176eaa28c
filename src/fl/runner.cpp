#include "tdml/fl/runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>

#include "tdml/data/transforms.h"
#include "tdml/fl/partition.h"
#include "tdml/fl/seed.h"
#include "tdml/fl/update.h"
#include "tdml/models/model.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/timer.h"

namespace tdml::fl {
namespace {

constexpr std::uint64_t kSaltShuffle = 0x7368;  // "sh"
constexpr std::uint64_t kSaltAugment = 0x6175;  // "au"

nlohmann::json opt_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// One client's pass over its shard: batches of its rows, poisoned/relabelled as its attack says.
struct ClientData {
  torch::Tensor rows;      // int64 rows of the train set
  torch::Tensor labels;    // int64, what it trains on (label-flipped if so)
  torch::Tensor poisoned;  // bool, per row of the shard (backdoor)
};

struct Batch {
  torch::Tensor images, labels;
};

Batch client_batch(const data::Dataset& train, const ClientData& c, const torch::Tensor& pos,
                   const RunnerOptions& o, const AttackPlan& plan, at::Generator& gen,
                   bool poison) {
  auto imgs = train.images.index_select(0, c.rows.index_select(0, pos));
  if (o.augment) imgs = data::random_crop_flip(imgs, 4, true, gen);
  Batch b{data::normalize(imgs.to(o.device)), c.labels.index_select(0, pos).to(o.device)};
  if (poison) {
    auto pb = poison_batch(b.images, b.labels, c.poisoned.index_select(0, pos), plan.options());
    b = {pb.images, pb.labels};
  }
  return b;
}

struct Eval {
  double accuracy = 0, loss = 0, asr_non_target = 0, asr_all = 0;
};

Eval evaluate(models::Model& model, const data::Dataset& test, const RunnerOptions& o,
              bool backdoor, const AttackOptions& ao) {
  torch::NoGradGuard no_grad;
  model.eval();
  const std::int64_t n = o.eval_limit > 0 ? std::min(o.eval_limit, test.size()) : test.size();
  std::int64_t correct = 0, hit_nt = 0, count_nt = 0, hit_all = 0;
  double loss = 0;
  for (std::int64_t s = 0; s < n; s += 500) {
    const auto e = std::min(n, s + 500);
    auto x = data::normalize(test.images.slice(0, s, e).to(o.device));
    auto y = test.labels.slice(0, s, e).to(o.device);
    auto logits = model.forward(x);
    loss += torch::nn::functional::cross_entropy(
                logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    correct += (logits.argmax(1) == y).sum().item<std::int64_t>();
    if (backdoor) {
      auto hit = model.forward(stamp_trigger(x, ao)).argmax(1) == ao.target;
      auto nt = y != ao.target;
      hit_all += hit.sum().item<std::int64_t>();
      hit_nt += (hit & nt).sum().item<std::int64_t>();
      count_nt += nt.sum().item<std::int64_t>();
    }
  }
  Eval r;
  r.accuracy = n ? static_cast<double>(correct) / n : 0;
  r.loss = n ? loss / n : 0;
  r.asr_all = n ? static_cast<double>(hit_all) / n : 0;
  r.asr_non_target = count_nt ? static_cast<double>(hit_nt) / count_nt : 0;
  return r;
}

}  // namespace

nlohmann::json RoundRecord::to_json() const {
  const auto& a = aggregation;
  nlohmann::json cl = nlohmann::json::array();
  std::map<int, const ClientScore*> score_of;
  for (const auto& s : a.scores) score_of[s.client] = &s;
  auto in = [](const std::vector<int>& v, int x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& c : clients) {
    nlohmann::json j = {{"id", c.id},
                        {"attack", c.attack},
                        {"malicious", c.attack != "none"},
                        {"samples", c.samples},
                        {"loss", c.loss},
                        {"mean", c.mean},
                        {"std", c.std},
                        {"norm", c.norm},
                        {"rejected", in(a.rejected, c.id)},
                        {"clipped", in(a.clipped, c.id)},
                        {"flagged", in(a.flagged, c.id)}};
    if (auto it = score_of.find(c.id); it != score_of.end()) {
      j["distance"] = it->second->distance;
      j["cosine_to_reference"] = it->second->cosine_to_reference;
      j["cosine_to_aggregate"] = it->second->cosine_to_aggregate;
      j["flag_reason"] = it->second->reason;
    }
    cl.push_back(j);
  }
  nlohmann::json j = {{"round", round},
                      {"seconds", seconds},
                      {"client_seconds", client_seconds},
                      {"server_seconds", server_seconds},
                      {"eval_seconds", eval_seconds},
                      {"samples", samples},
                      {"samples_per_s", samples_per_s},
                      {"test_accuracy", test_accuracy},
                      {"test_loss", test_loss},
                      {"clip_ratio", a.clip_ratio},
                      {"rejected", a.rejected},
                      {"flagged", a.flagged},
                      {"excluded", a.excluded},
                      {"aggregated", a.aggregated},
                      {"selected", a.selected},
                      {"aggregate_variance", aggregate_variance},
                      {"aggregate_norm", aggregate_norm},
                      {"comm_bytes_up", comm.up},
                      {"comm_bytes_down", comm.down},
                      {"comm_mib_up", comm.up / 1048576.0},
                      {"comm_mib_down", comm.down / 1048576.0},
                      {"detection",
                       {{"precision", opt_json(detection.precision)},
                        {"recall", opt_json(detection.recall)},
                        {"true_positives", detection.true_positives},
                        {"false_positives", detection.false_positives},
                        {"false_negatives", detection.false_negatives}}},
                      {"clients", cl}};
  j["backdoor"] = backdoor
                      ? nlohmann::json{{"asr_non_target", asr_non_target}, {"asr_all", asr_all}}
                      : nlohmann::json(nullptr);
  return j;
}

RunResult run_federated(const data::Dataset& train, const data::Dataset& test,
                        const RunnerOptions& o, const std::string& data_description) {
  if (o.mode != "gradient" && o.mode != "local") {
    throw UsageError("fl: --mode must be gradient or local, got '" + o.mode + "'");
  }
  if (o.rounds < 1 || o.clients < 1 || o.batch_size < 1) {
    throw UsageError("fl: rounds, clients and batch size must be >= 1");
  }
  const bool local = o.mode == "local";
  const double server_lr = o.server_lr >= 0 ? o.server_lr : (local ? 1.0 : 0.3);

  // Clients, their data and their roles.
  Partition part;
  if (o.partition == "iid") {
    part = iid_partition(train.size(), o.clients, o.per_client, o.seed);
  } else if (o.partition == "dirichlet") {
    DirichletOptions d;
    d.alpha = o.dirichlet_alpha;
    d.seed = o.seed;
    part = dirichlet_partition(train.labels, o.clients, train.num_classes, d);
  } else {
    throw UsageError("fl: --partition must be iid or dirichlet, got '" + o.partition + "'");
  }
  const int malicious =
      o.malicious >= 0 ? o.malicious : malicious_count(o.clients, o.malicious_fraction);
  AttackPlan plan(o.clients, malicious,
                  malicious > 0 ? parse_attack_mix(o.attacks) : std::vector<ClientAttack>{},
                  o.attack, o.seed);
  std::vector<ClientData> cdata(o.clients);
  for (int k = 0; k < o.clients; ++k) {
    cdata[k].rows = part[k];
    cdata[k].labels =
        plan.training_labels(k, train.labels.index_select(0, part[k]), train.num_classes);
    cdata[k].poisoned = plan.poisoned_mask(k, part[k].numel());
  }

  torch::manual_seed(o.seed);
  auto model = models::make_model(o.model, train.num_classes);
  model->to(o.device);
  const auto params = FlatLayout::parameters(*model);
  const auto buffers = FlatLayout::float_buffers(*model);
  RobustServer server(o.server);
  spdlog::info("fl: {} clients ({} malicious: {}), {} mode, rule {}, clip {}, {} params", o.clients,
               malicious, o.attacks, o.mode, server.rule().name(), o.server.clip_norm,
               params.numel());

  RunResult result;
  nlohmann::json doc = {{"command", "fl"},
                        {"data", data_description},
                        {"model", o.model},
                        {"parameters", params.numel()},
                        {"buffers", buffers.numel()},
                        {"config",
                         {{"clients", o.clients},
                          {"per_client", o.per_client},
                          {"partition", o.partition},
                          {"dirichlet_alpha", o.dirichlet_alpha},
                          {"rounds", o.rounds},
                          {"mode", o.mode},
                          {"server_lr", server_lr},
                          {"local_epochs", o.local_epochs},
                          {"client_lr", o.client_lr},
                          {"batch_size", o.batch_size},
                          {"augment", o.augment},
                          {"seed", o.seed},
                          {"malicious", plan.malicious_clients()},
                          {"attacks", o.attacks},
                          {"rule", server.rule().name()},
                          {"clip_norm", o.server.clip_norm},
                          {"exclude_flagged", o.server.detection.exclude_flagged}}},
                        {"rounds", nlohmann::json::array()}};

  for (int round = 1; round <= o.rounds; ++round) {
    util::Stopwatch round_watch;
    RoundRecord rec;
    rec.round = round;
    const auto global_params = params.flatten();
    const auto global_buffers = buffers.flatten();
    std::vector<torch::Tensor> sent, client_buffers;
    std::vector<double> weights;

    util::Stopwatch client_watch;
    for (int k = 0; k < o.clients; ++k) {
      params.assign(global_params);
      buffers.assign(global_buffers);
      model->train();
      const auto& c = cdata[k];
      const auto n = c.rows.numel();
      const bool poison = plan.of(k).data == DataAttack::kBackdoor;
      auto gen = at::detail::createCPUGenerator(derive_seed(o.seed, kSaltAugment, round, k));
      double loss_sum = 0;
      std::int64_t batches = 0;
      torch::Tensor honest;
      if (!local) {
        model->zero_grad();
        for (std::int64_t s = 0; s < n; s += o.batch_size) {
          auto pos = torch::arange(s, std::min(n, s + o.batch_size), torch::kInt64);
          auto b = client_batch(train, c, pos, o, plan, gen, poison);
          // Sum of per-sample losses / n: the accumulated gradient is the shard average.
          auto loss = torch::nn::functional::cross_entropy(
              model->forward(b.images), b.labels,
              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
          (loss / static_cast<double>(n)).backward();
          loss_sum += loss.item<double>() / pos.numel();
          ++batches;
        }
        honest = params.flatten_grads();
      } else {
        torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(o.client_lr)
                                                       .momentum(o.momentum)
                                                       .weight_decay(o.weight_decay));
        for (int e = 0; e < o.local_epochs; ++e) {
          auto sg = at::detail::createCPUGenerator(
              derive_seed(o.seed, kSaltShuffle, round * 1000 + e, k));
          auto order = torch::randperm(n, sg, torch::kInt64);
          for (std::int64_t s = 0; s < n; s += o.batch_size) {
            auto b = client_batch(train, c, order.slice(0, s, std::min(n, s + o.batch_size)), o,
                                  plan, gen, poison);
            opt.zero_grad();
            auto loss = torch::nn::functional::cross_entropy(model->forward(b.images), b.labels);
            loss.backward();
            opt.step();
            loss_sum += loss.item<double>();
            ++batches;
          }
        }
        honest = params.flatten() - global_params;
      }
      auto update = plan.apply_update(k, round, honest);
      sent.push_back(update);
      client_buffers.push_back(buffers.flatten());
      weights.push_back(static_cast<double>(n));
      rec.samples += n * (local ? o.local_epochs : 1);
      auto st = update_stats(update);
      rec.clients.push_back({k, plan.of(k).to_string(), n, batches ? loss_sum / batches : 0,
                             st.mean, st.std, st.norm});
    }
    rec.client_seconds = client_watch.seconds();

    util::Stopwatch server_watch;
    rec.aggregation = server.aggregate(sent, weights);
    const auto& agg = rec.aggregation;
    params.assign(global_params);
    params.add(agg.update, local ? server_lr : -server_lr);
    if (buffers.numel() > 0) {
      std::vector<torch::Tensor> kept;
      for (int k : agg.aggregated) kept.push_back(client_buffers[k]);
      auto stacked = torch::stack(kept);
      buffers.assign(std::get<0>(stacked.kthvalue((stacked.size(0) - 1) / 2 + 1, 0)));
    }
    auto detected = agg.flagged;
    detected.insert(detected.end(), agg.rejected.begin(), agg.rejected.end());
    rec.detection = detection_quality(detected, plan.malicious_clients());
    rec.aggregate_variance = aggregate_variance(agg.update);
    rec.aggregate_norm = agg.update.norm().item<double>();
    rec.comm = round_communication(o.clients, o.clients, params.numel());
    rec.comm.down += static_cast<std::int64_t>(o.clients) * buffers.numel() * 4;
    rec.server_seconds = server_watch.seconds();

    util::Stopwatch eval_watch;
    auto ev = evaluate(*model, test, o, plan.any_backdoor(), plan.options());
    rec.eval_seconds = eval_watch.seconds();
    rec.test_accuracy = ev.accuracy;
    rec.test_loss = ev.loss;
    rec.backdoor = plan.any_backdoor();
    rec.asr_non_target = ev.asr_non_target;
    rec.asr_all = ev.asr_all;
    rec.seconds = round_watch.seconds();
    rec.samples_per_s = rec.client_seconds > 0 ? rec.samples / rec.client_seconds : 0;

    spdlog::info(
        "fl round {}/{}: acc {:.4f}{} clip {:.2f} flagged {} rejected {} {:.1f} s "
        "({:.0f} samples/s)",
        round, o.rounds, rec.test_accuracy,
        rec.backdoor ? fmt::format(" asr {:.3f}", rec.asr_non_target) : "", agg.clip_ratio,
        agg.flagged.size(), agg.rejected.size(), rec.seconds, rec.samples_per_s);
    doc["rounds"].push_back(rec.to_json());
    if (!o.metrics_path.empty()) util::write_file_atomic(o.metrics_path, doc.dump(2) + "\n");
    result.rounds.push_back(std::move(rec));
  }
  result.json = std::move(doc);
  return result;
}

}  // namespace tdml::fl
