#pragma once
// How a training set is split over federated clients: IID disjoint shards (the study: 6 clients
// x 6000 samples from a permutation seeded 123) or non-IID label skew drawn from a Dirichlet
// distribution. A partition is a list of int64 row-index tensors, one per client, into the
// caller's data set; the functions only read labels and never copy images.
//
// All functions are pure (no global state; torch's global generator is not touched) and
// thread-safe. Bad arguments throw tdml::UsageError naming the argument.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tdml::fl {

// One int64 [n_k] tensor of row indices per client.
using Partition = std::vector<torch::Tensor>;

// IID: permutes 0..n-1 with torch::randperm on a CPU generator seeded `seed` (the same
// permutation as Python's torch.randperm(n, generator=torch.Generator().manual_seed(seed))) and
// gives client k the slice [k*per_client, (k+1)*per_client). per_client 0 means n / clients
// (the remainder is left out). Needs clients * per_client <= n.
Partition iid_partition(std::int64_t n, int clients, std::int64_t per_client, std::uint64_t seed);

struct DirichletOptions {
  double alpha = 0.5;          // concentration: 0.1 = each client dominated by few classes,
                               // 100 = close to IID
  std::int64_t min_size = 10;  // redraw (up to max_redraws) until every client has this many
  int max_redraws = 100;       // then fail with tdml::Error suggesting a larger alpha
  std::uint64_t seed = 0;      // same seed, labels and options -> same partition
};

// Non-IID label skew (Hsu et al. 2019; the usual FL benchmark split): for each class c, its rows
// are shuffled and cut among clients by proportions p_c ~ Dirichlet(alpha, ..., alpha) over the
// clients. Every row goes to exactly one client (the partition covers the whole set).
// Sampling: p_ck = g_k / sum(g), g_k ~ Gamma(alpha, 1) from std::gamma_distribution driven by a
// std::mt19937_64 seeded from `seed` (deterministic for a given standard library; libstdc++ and
// libc++ may draw differently). Class rows are shuffled with torch::randperm on a seeded CPU
// generator. Cut points are floor(cumsum(p_c) * n_c). Rows of each client are sorted.
// labels: int64 [N] in 0..num_classes-1.
Partition dirichlet_partition(const torch::Tensor& labels, int clients, int num_classes,
                              const DirichletOptions& opts);

// How `tdml fl` and `tdml data split` choose a partition (their --partition, --clients, ...).
struct PartitionSpec {
  std::string kind = "iid";        // iid | dirichlet
  int clients = 6;
  std::int64_t per_client = 6000;  // iid: rows per client (0 = N / clients)
  double alpha = 0.5;              // dirichlet: concentration
  std::uint64_t seed = 0;
  std::int64_t dirichlet_rows = 0;  // dirichlet: split a seeded random subset of this many
                                    // rows (0 = the whole set)
};

// iid_partition(N, clients, per_client, seed) or dirichlet_partition(labels, clients,
// num_classes, {alpha, seed}) (on the rows of a seeded random subset when dirichlet_rows > 0);
// an unknown kind is a tdml::UsageError.
Partition partition_rows(const torch::Tensor& labels, int num_classes, const PartitionSpec& spec);

// int64 [clients, num_classes]: how many rows of each class every client holds.
torch::Tensor class_histogram(const torch::Tensor& labels, const Partition& part, int num_classes);

// Mean over clients of the normalised entropy H(p_k)/log(num_classes) of each client's label
// distribution: 1 = every client uniform over classes, near 0 = every client holds one class.
// The measurable "skew" statistic for a partition.
double mean_normalized_label_entropy(const torch::Tensor& histogram);

}  // namespace tdml::fl
