#include "tdml/fl/client.h"

#include <mutex>

#include "tdml/data/transforms.h"
#include "tdml/fl/dp.h"
#include "fl/seed.h"
#include "tdml/train/trainer.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

constexpr std::uint64_t kSaltShuffle = 0x7368;  // "sh"
constexpr std::uint64_t kSaltAugment = 0x6175;  // "au"
constexpr std::uint64_t kSaltLocalDp = 0x6c64;  // "ld"

// The same cut `tdml data split` writes (partition.h partition_rows).
Partition make_partition(const data::Dataset& train, const RunnerOptions& o) {
  return partition_rows(train.labels, train.num_classes,
                        {o.partition, o.clients, o.per_client, o.dirichlet_alpha, o.seed,
                         o.dirichlet_rows});
}

}  // namespace

AttackPlan make_attack_plan(const RunnerOptions& o) {
  const int malicious =
      o.malicious >= 0 ? o.malicious : malicious_count(o.clients, o.malicious_fraction);
  if (malicious > o.clients) {
    throw UsageError("fl: --malicious " + std::to_string(malicious) + " exceeds --clients " +
                     std::to_string(o.clients));
  }
  return AttackPlan(o.clients, malicious,
                    malicious > 0 ? parse_attack_mix(o.attacks) : std::vector<ClientAttack>{},
                    o.attack, o.seed);
}

namespace {

std::shared_ptr<models::Model> make_seeded_model(const RunnerOptions& o, int num_classes) {
  // Initialisation draws from torch's process-wide generator: seeding and building must not
  // interleave with another run in the same process (ranks as threads share the generator).
  static std::mutex init_mutex;
  std::unique_lock<std::mutex> lock(init_mutex);
  torch::manual_seed(o.seed);
  auto m = models::make_model(o.model, num_classes);
  lock.unlock();
  m->to(o.device);
  if (o.channels_last) train::to_channels_last(*m);
  return m;
}

}  // namespace

void RunnerOptions::validate() const {
  if (mode != "gradient" && mode != "local") {
    throw UsageError("fl: mode must be gradient or local, got '" + mode + "'");
  }
  if (partition != "iid" && partition != "dirichlet") {
    throw UsageError("fl: --partition must be iid or dirichlet, got '" + partition + "'");
  }
  if (rounds < 1 || clients < 1 || batch_size < 1 || local_epochs < 1) {
    throw UsageError("fl: rounds, clients, batch size and local epochs must be >= 1");
  }
  if (limit_test_batches < 0 || eval_batch_size < 1 || eval_every < 1) {
    throw UsageError(
        "fl: --limit-test-batches must be >= 0, --eval-batch-size and --eval-every >= 1");
  }
  if (prox_mu < 0) throw UsageError("fl: --prox-mu must be >= 0");
  if (prox_mu > 0 && !local()) {
    throw UsageError("fl: --prox-mu is FedProx's local term: it needs --local train (a gradient "
                     "at the global model is unchanged by it)");
  }
  server_opt.validate();
  server.validate();
}

ClientPool::ClientPool(const data::Dataset& train, const RunnerOptions& opts)
    : ClientPool(train, opts, make_partition(train, opts), make_attack_plan(opts)) {}

ClientPool::ClientPool(const data::Dataset& train, const RunnerOptions& opts, Partition part,
                       AttackPlan plan)
    : train_(train),
      opts_(opts),
      plan_(std::move(plan)),
      model_(make_seeded_model(opts, train.num_classes)),
      params_(FlatLayout::parameters(*model_)),
      buffers_(FlatLayout::float_buffers(*model_)) {
  opts_.validate();
  TDML_CHECK(static_cast<int>(part.size()) == opts_.clients && plan_.clients() == opts_.clients,
             "fl: partition and attack plan must have one entry per client");
  for (int k = 0; k < opts_.clients; ++k) {
    rows_.push_back(part[k]);
    labels_.push_back(
        plan_.training_labels(k, train.labels.index_select(0, part[k]), train.num_classes));
    poisoned_.push_back(plan_.poisoned_mask(k, part[k].numel()));
  }
}

ClientPool::Local ClientPool::train_on(int k, const torch::Tensor& rows,
                                      const torch::Tensor& labels, const torch::Tensor& poisoned,
                                      const RoundContext& ctx) {
  const auto& o = opts_;
  params_.assign(ctx.global_params);
  buffers_.assign(ctx.global_buffers);
  model_->train();
  const auto n = rows.numel();
  const bool poison = poisoned.defined();
  auto gen = at::detail::createCPUGenerator(derive_seed(o.seed, kSaltAugment, ctx.round, k));
  // One batch of the client's shard at positions `pos`, poisoned as its attack says.
  auto batch = [&](const torch::Tensor& pos) {
    auto imgs = train_.images.index_select(0, rows.index_select(0, pos));
    if (o.augment) imgs = data::random_crop_flip(imgs, 4, true, gen);
    auto x = data::normalize(imgs.to(o.device));
    if (o.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    auto y = labels.index_select(0, pos).to(o.device);
    if (!poison) return std::make_pair(x, y);
    auto pb = poison_batch(x, y, poisoned.index_select(0, pos), plan_.options());
    return std::make_pair(pb.images, pb.labels);
  };
  auto forward = [&](const torch::Tensor& x) {
    train::AutocastGuard amp(o.amp, o.device.type());
    return model_->forward(x).to(torch::kFloat32);
  };
  namespace F = torch::nn::functional;
  double loss_sum = 0;
  std::int64_t batches = 0;
  torch::Tensor honest;
  if (!o.local()) {
    model_->zero_grad();
    for (std::int64_t s = 0; s < n; s += o.batch_size) {
      auto [x, y] = batch(torch::arange(s, std::min(n, s + o.batch_size), torch::kInt64));
      // Sum of per-sample losses / n: the accumulated gradient is the shard average.
      auto loss =
          F::cross_entropy(forward(x), y, F::CrossEntropyFuncOptions().reduction(torch::kSum));
      (loss / static_cast<double>(n)).backward();
      loss_sum += loss.item<double>() / y.size(0);
      ++batches;
    }
    honest = params_.flatten_grads();
  } else {
    auto params = model_->parameters();
    torch::optim::SGD opt(
        params,
        torch::optim::SGDOptions(o.client_lr).momentum(o.momentum).weight_decay(o.weight_decay));
    // FedProx: the gradient of mu/2 |w - w_global|^2 is mu (w - w_global).
    std::vector<torch::Tensor> anchor;
    if (o.prox_mu > 0) {
      for (const auto& p : params) anchor.push_back(p.detach().clone());
    }
    for (int e = 0; e < o.local_epochs; ++e) {
      auto sg = at::detail::createCPUGenerator(
          derive_seed(o.seed, kSaltShuffle, ctx.round * 1000 + e, k));
      auto order = torch::randperm(n, sg, torch::kInt64);
      for (std::int64_t s = 0; s < n; s += o.batch_size) {
        auto [x, y] = batch(order.slice(0, s, std::min(n, s + o.batch_size)));
        opt.zero_grad();
        auto loss = F::cross_entropy(forward(x), y);
        loss.backward();
        if (o.prox_mu > 0) {
          torch::NoGradGuard no_grad;
          for (std::size_t i = 0; i < params.size(); ++i) {
            if (params[i].grad().defined()) {
              params[i].mutable_grad().add_(params[i] - anchor[i], o.prox_mu);
            }
          }
        }
        opt.step();
        loss_sum += loss.item<double>();
        ++batches;
      }
    }
    honest = params_.flatten() - ctx.global_params;
  }
  return {honest, batches ? loss_sum / batches : 0};
}

ClientUpdate ClientPool::run(int k, const RoundContext& ctx, const ClientHooks& hooks) {
  TDML_CHECK(k >= 0 && k < clients(), "fl: no client " << k);
  const bool poison = plan_.of(k).data == DataAttack::kBackdoor;
  auto local = train_on(k, rows_[k], labels_[k], poison ? poisoned_[k] : torch::Tensor(), ctx);
  ClientUpdate u;
  u.client = k;
  u.update = plan_.apply_update(k, ctx.round, local.update);
  const auto& dp = opts_.server.dp;
  if (dp.enabled() && dp.local && !plan_.is_malicious(k)) {
    // A benign client's own privacy: clipped and noised before it is signed and sent (an
    // attacker does not follow the protocol).
    u.update = local_dp_update(u.update, dp.clip, dp.noise,
                               derive_seed(opts_.seed, kSaltLocalDp, ctx.round, k));
  }
  u.buffers = buffers_.flatten();
  u.samples = rows_[k].numel();
  u.loss = local.loss;
  if (hooks.attest && !plan_.of(k).adaptive()) u.attestation = hooks.attest(ctx, u);
  return u;
}

torch::Tensor ClientPool::root_update(const torch::Tensor& rows, const RoundContext& ctx) {
  // The server's own honest work on its clean root set, under an id no client has.
  return train_on(clients(), rows, train_.labels.index_select(0, rows), torch::Tensor(), ctx)
      .update;
}

}  // namespace tdml::fl
