#include "tdml/fl/partition.h"

#include <cmath>
#include <random>
#include <string>

#include "fl/seed.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

torch::Tensor seeded_randperm(std::int64_t n, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
}

void check_labels(const torch::Tensor& labels, int num_classes) {
  if (!labels.defined() || labels.dim() != 1 || labels.scalar_type() != torch::kInt64) {
    throw UsageError("partition: labels must be an int64 [N] tensor");
  }
  if (labels.numel() > 0) {
    auto lo = labels.min().item<std::int64_t>();
    auto hi = labels.max().item<std::int64_t>();
    if (lo < 0 || hi >= num_classes) {
      throw UsageError("partition: labels must lie in 0.." + std::to_string(num_classes - 1) +
                       " (found " + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    }
  }
}

}  // namespace

Partition iid_partition(std::int64_t n, int clients, std::int64_t per_client, std::uint64_t seed) {
  if (clients < 1) throw UsageError("iid partition: clients must be >= 1");
  if (per_client < 0) throw UsageError("iid partition: per_client must be >= 0");
  if (per_client == 0) per_client = n / clients;
  if (per_client == 0 || per_client * clients > n) {
    throw UsageError("iid partition: " + std::to_string(clients) + " clients x " +
                     std::to_string(per_client) + " samples need more than the " +
                     std::to_string(n) + " rows available; lower --clients or --per-client");
  }
  auto perm = seeded_randperm(n, seed);
  Partition part;
  part.reserve(clients);
  for (int k = 0; k < clients; ++k) {
    part.push_back(perm.slice(0, k * per_client, (k + 1) * per_client).clone());
  }
  return part;
}

Partition dirichlet_partition(const torch::Tensor& labels, int clients, int num_classes,
                              const DirichletOptions& opts) {
  if (clients < 1) throw UsageError("dirichlet partition: clients must be >= 1");
  if (num_classes < 1) throw UsageError("dirichlet partition: num_classes must be >= 1");
  if (!(opts.alpha > 0) || !std::isfinite(opts.alpha)) {
    throw UsageError("dirichlet partition: alpha must be a positive number");
  }
  check_labels(labels, num_classes);
  const auto n = labels.numel();
  if (opts.min_size * clients > n) {
    throw UsageError("dirichlet partition: min_size " + std::to_string(opts.min_size) + " x " +
                     std::to_string(clients) + " clients exceeds the " + std::to_string(n) +
                     " rows");
  }

  // Rows of each class, each class shuffled by its own seeded permutation.
  std::vector<torch::Tensor> class_rows(num_classes);
  for (int c = 0; c < num_classes; ++c) {
    auto rows = torch::nonzero(labels == c).reshape({-1});
    auto perm = seeded_randperm(rows.numel(), derive_seed(opts.seed, 1, c));
    class_rows[c] = rows.index_select(0, perm);
  }

  std::mt19937_64 rng(derive_seed(opts.seed, 2));
  std::gamma_distribution<double> gamma(opts.alpha, 1.0);
  for (int attempt = 0; attempt <= opts.max_redraws; ++attempt) {
    std::vector<std::vector<torch::Tensor>> pieces(clients);
    std::vector<std::int64_t> sizes(clients, 0);
    for (int c = 0; c < num_classes; ++c) {
      std::vector<double> p(clients);
      double sum = 0;
      for (auto& v : p) sum += (v = gamma(rng));
      if (!(sum > 0)) {  // every draw underflowed (tiny alpha): give the class to one client
        p.assign(clients, 0.0);
        p[std::uniform_int_distribution<int>(0, clients - 1)(rng)] = 1.0;
        sum = 1.0;
      }
      const auto nc = class_rows[c].numel();
      double cum = 0;
      std::int64_t start = 0;
      for (int k = 0; k < clients; ++k) {
        cum += p[k] / sum;
        std::int64_t end = k == clients - 1 ? nc : std::min<std::int64_t>(nc, std::floor(cum * nc));
        end = std::max(end, start);
        if (end > start) pieces[k].push_back(class_rows[c].slice(0, start, end));
        sizes[k] += end - start;
        start = end;
      }
    }
    bool ok = true;
    for (auto s : sizes) ok = ok && s >= opts.min_size;
    if (!ok) continue;
    Partition part;
    part.reserve(clients);
    for (auto& ps : pieces) {
      auto rows = ps.empty() ? torch::empty({0}, torch::kInt64) : torch::cat(ps);
      part.push_back(std::get<0>(rows.sort()));
    }
    return part;
  }
  throw Error("dirichlet partition: after " + std::to_string(opts.max_redraws) +
              " redraws some client still had fewer than " + std::to_string(opts.min_size) +
              " rows; use a larger alpha, fewer clients or a smaller min_size");
}

Partition partition_rows(const torch::Tensor& labels, int num_classes, const PartitionSpec& spec) {
  if (spec.kind == "iid") {
    return iid_partition(labels.size(0), spec.clients, spec.per_client, spec.seed);
  }
  if (spec.kind != "dirichlet") {
    throw UsageError("--partition must be iid or dirichlet (got '" + spec.kind + "')");
  }
  DirichletOptions d;
  d.alpha = spec.alpha;
  d.seed = spec.seed;
  if (spec.dirichlet_rows <= 0 || spec.dirichlet_rows >= labels.size(0)) {
    return dirichlet_partition(labels, spec.clients, num_classes, d);
  }
  // A random subset first (its own seed stream), then the label-skewed split of it.
  auto gen = at::detail::createCPUGenerator(spec.seed ^ 0x5375627365740000ULL);  // "Subset"
  auto rows = torch::randperm(labels.size(0), gen, torch::kInt64).slice(0, 0, spec.dirichlet_rows);
  auto part = dirichlet_partition(labels.index_select(0, rows), spec.clients, num_classes, d);
  for (auto& p : part) p = std::get<0>(rows.index_select(0, p).sort());
  return part;
}

torch::Tensor class_histogram(const torch::Tensor& labels, const Partition& part, int num_classes) {
  check_labels(labels, num_classes);
  auto hist = torch::zeros({static_cast<std::int64_t>(part.size()), num_classes}, torch::kInt64);
  for (std::size_t k = 0; k < part.size(); ++k) {
    hist[k] = torch::bincount(labels.index_select(0, part[k]), {}, num_classes);
  }
  return hist;
}

double mean_normalized_label_entropy(const torch::Tensor& histogram) {
  TDML_CHECK(histogram.dim() == 2 && histogram.size(1) > 1,
             "label entropy: histogram must be [clients, classes>1]");
  auto h = histogram.to(torch::kFloat64);
  auto p = h / h.sum(1, true).clamp_min(1);
  auto ent = -(p * torch::log(p.clamp_min(1e-300))).sum(1);
  return (ent / std::log(static_cast<double>(histogram.size(1)))).mean().item<double>();
}

}  // namespace tdml::fl
