#pragma once
// Server-side aggregation rules for federated learning. Every rule takes the round's client
// updates stacked as rows of a float [n, d] tensor (one flat update per client, see update.h)
// and returns one float [d] update. All rules are vectorised over coordinates (sorting along
// dim 0, one Gram matrix): no per-coordinate C++ loops.
//
// Contract for every Aggregator:
//  - Inputs must be finite (the server pipeline in server.h rejects NaN/Inf updates first and
//    clips norms before any rule); rows are clients in a fixed order.
//  - check(n) throws tdml::Error, saying what to change, when the rule cannot run on n updates;
//    aggregate() calls it first.
//  - tolerated(n) is the breakdown point expressed as a count: the largest number of arbitrary
//    (Byzantine) rows among n for which the output stays bounded by the benign rows.
//  - Deterministic; const and thread-safe (no state changes in aggregate()).
//  - Only `mean` uses the per-client weights (sample counts); the robust rules treat every
//    client equally because a weight is itself something an attacker could inflate.
//  - Two rules need more than the round's updates (RuleInputs): centered clipping is centred
//    on the previous round's aggregate, FLTrust scores updates against the server's own update
//    on its clean root set. The others ignore RuleInputs.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tdml::fl {

struct Aggregate {
  torch::Tensor update;       // float [d]
  std::vector<int> selected;  // rows the result was built from (krum picks; all rows otherwise)
  int iterations = 0;         // Weiszfeld iterations (geometric median), else 0
};

// What a rule may need besides the round's updates.
struct RuleInputs {
  torch::Tensor previous;  // float [d]: the previous round's aggregate (cclip; zeros at round 1)
  torch::Tensor root;      // float [d]: the server's update on its root set (fltrust)
};

class Aggregator {
 public:
  virtual ~Aggregator() = default;
  virtual std::string name() const = 0;
  virtual void check(int n) const;
  virtual int tolerated(int n) const = 0;
  // updates: float [n, d]; weights: float [n], > 0 (ignored by the robust rules).
  virtual Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const = 0;
  // The same with the inputs a rule needs beyond the updates (cclip, fltrust override it).
  virtual Aggregate aggregate_with(const torch::Tensor& updates, const torch::Tensor& weights,
                                   const RuleInputs&) const {
    return aggregate(updates, weights);
  }
  // Whether aggregate() needs RuleInputs::root (the server then trains on its root set).
  virtual bool needs_root() const { return false; }
};

// Squared L2 distances between the rows of updates (float [n, d]): float64 [n, n], diagonal 0.
// Each pair's squared differences summed directly (no cancellation), float32 within tiles of
// 256 columns and float64 across them; the same bits whatever the thread count
// (src/fl/pairwise_distances.cpp).
torch::Tensor pairwise_sq_distances(const torch::Tensor& updates);

// FedAvg: sum_i w_i u_i / sum_i w_i with w_i = client i's sample count.
// Breakdown point 0: a single client moves the result arbitrarily far (clipping bounds its
// pull to w_i / sum(w) * max_norm, but does not remove it).
class Mean : public Aggregator {
 public:
  std::string name() const override { return "mean"; }
  int tolerated(int) const override { return 0; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;
};

// Coordinate-wise median. With an even count it returns the LOWER of the two middle values,
// matching torch.median(dim=0) as the study used (numpy's median averages them instead; set
// average_middle for that). Breakdown point 1/2: tolerates floor((n-1)/2) arbitrary rows in
// every coordinate (odd and even n, for either even-count convention).
class CoordinateMedian : public Aggregator {
 public:
  explicit CoordinateMedian(bool average_middle = false) : average_middle_(average_middle) {}
  std::string name() const override { return average_middle_ ? "median-avg" : "median"; }
  int tolerated(int n) const override { return (n - 1) / 2; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;

 private:
  bool average_middle_;
};

// Coordinate-wise trimmed mean: in every coordinate drop the k = floor(trim * n) smallest and k
// largest values and average the rest. Breakdown point trim: tolerates k arbitrary rows.
// A trim that removes nothing (k = 0, e.g. 6 clients at trim 0.1: the study's pitfall, which
// made its "trimmed mean" the plain mean) is refused by check() unless allow_no_trim is set;
// n - 2k must be >= 1. trim must be in [0, 0.5).
class TrimmedMean : public Aggregator {
 public:
  explicit TrimmedMean(double trim, bool allow_no_trim = false);
  std::string name() const override { return "trimmed-mean"; }
  void check(int n) const override;
  int tolerated(int n) const override { return trimmed(n); }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;
  // k for n updates.
  int trimmed(int n) const;

 private:
  double trim_;
  bool allow_no_trim_;
};

// Krum (Blanchard et al. 2017) and Multi-Krum. Each update's score is the sum of squared L2
// distances to its n - f - 2 nearest other updates; Krum returns the update with the lowest
// score (ties: lowest row), Multi-Krum the plain average of the m lowest-scoring updates
// (m = 0 means n - f). Needs n >= 2f + 3 (check() refuses otherwise). Breakdown: f arbitrary
// rows when n >= 2f + 3. Distances come from a float64 Gram matrix.
class Krum : public Aggregator {
 public:
  Krum(int f, int m = 1);  // m = 1: Krum; m > 1 or 0: Multi-Krum
  std::string name() const override { return m_ == 1 ? "krum" : "multi-krum"; }
  void check(int n) const override;
  int tolerated(int) const override { return f_; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;
  // Each row's Krum score (float64 [n]).
  torch::Tensor scores(const torch::Tensor& updates) const;

 private:
  int f_;
  int m_;
};

// Geometric median by smoothed Weiszfeld iterations (Pillutla et al. 2022, "RFA"): starting at
// the mean, z <- sum_i u_i / max(nu, |u_i - z|) / sum_i 1 / max(nu, |u_i - z|), until the step
// is <= tol * max(1, |z|) or max_iter iterations. nu > 0 smooths the pull of rows that coincide
// with z. Breakdown point 1/2: tolerates floor((n-1)/2) arbitrary rows.
class GeometricMedian : public Aggregator {
 public:
  GeometricMedian(double nu = 1e-6, double tol = 1e-6, int max_iter = 100);
  std::string name() const override { return "geomed"; }
  int tolerated(int n) const override { return (n - 1) / 2; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;

 private:
  double nu_;
  double tol_;
  int max_iter_;
};

// Bulyan (El Mhamdi et al. 2018): theta = n - 2f updates are selected by Krum applied again
// and again (each pick leaves the set); then in every coordinate the beta = theta - 2f values
// closest to the coordinate-wise median of the selection are averaged. Needs n >= 4f + 3.
// Breakdown: f arbitrary rows; each coordinate of the result lies within the range of the
// benign values (the paper's bound). Distances: one float64 Gram matrix, reused by every pick.
class Bulyan : public Aggregator {
 public:
  explicit Bulyan(int f);
  std::string name() const override { return "bulyan"; }
  void check(int n) const override;
  int tolerated(int) const override { return f_; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;

 private:
  int f_;
};

// Centered clipping (Karimireddy, He and Jaggi 2021): starting at v = the previous round's
// aggregate, `iterations` times v <- v + mean_i (u_i - v) * min(1, tau / |u_i - v|). An
// attacker moves the result by at most tau * f / n per iteration. With no previous aggregate
// (round 1, or RuleInputs::previous undefined) v starts at zero.
class CenteredClipping : public Aggregator {
 public:
  CenteredClipping(double tau, int iterations);
  std::string name() const override { return "cclip"; }
  int tolerated(int n) const override { return (n - 1) / 2; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;
  Aggregate aggregate_with(const torch::Tensor& updates, const torch::Tensor& weights,
                           const RuleInputs& in) const override;

 private:
  double tau_;
  int iterations_;
};

// FLTrust (Cao et al. 2021): the server's own update g0 on a small clean root set scores each
// update by trust TS_i = ReLU(cos(u_i, g0)); each update is rescaled to |g0| and the result is
// sum_i TS_i * u_i * |g0| / |u_i| / sum_i TS_i (zero when every TS_i is 0). Needs
// RuleInputs::root. Tolerates any number of attackers whose updates point away from g0;
// tolerated() reports n - 1 with that caveat (the paper's claim, under its assumptions).
class FLTrust : public Aggregator {
 public:
  std::string name() const override { return "fltrust"; }
  int tolerated(int n) const override { return n - 1; }
  bool needs_root() const override { return true; }
  Aggregate aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const override;
  Aggregate aggregate_with(const torch::Tensor& updates, const torch::Tensor& weights,
                           const RuleInputs& in) const override;
  // The trust scores (float64 [n]) of the updates against root.
  static torch::Tensor trust_scores(const torch::Tensor& updates, const torch::Tensor& root);
};

// Bucketing (Karimireddy, He and Jaggi 2022): rows are put in a random order (a permutation
// seeded `seed`) and averaged in buckets of s consecutive rows (the last bucket may be
// smaller), ceil(n / s) rows out; a rule then runs on the bucket means. s = 1 returns the rows
// unchanged (in their original order). members[b]: the input rows in bucket b.
struct Buckets {
  torch::Tensor means;                   // float [ceil(n / s), d]
  torch::Tensor weights;                 // float64 [buckets]: summed input weights
  std::vector<std::vector<int>> members;  // input rows per bucket
};
Buckets bucket_average(const torch::Tensor& updates, const torch::Tensor& weights, int s,
                       std::uint64_t seed);

struct AggregatorOptions {
  std::string rule = "median";         // mean | median | trimmed-mean | krum | multi-krum |
                                       // geomed | bulyan | cclip | fltrust
  bool median_average_middle = false;  // median: average the two middle values (numpy style)
  double trim = 0.2;                   // trimmed-mean: fraction cut at EACH end (k = floor(trim*n))
  bool allow_no_trim = false;          // trimmed-mean: accept k = 0 (then it is the plain mean)
  int f = 1;                           // krum / multi-krum: Byzantine clients assumed
  int multi_krum_m = 0;                // multi-krum: updates averaged (0 = n - f)
  double geomed_nu = 1e-6;             // geomed: smoothing of distances
  double geomed_tol = 1e-6;            // geomed: relative step at which iterations stop
  int geomed_max_iter = 100;           // geomed: iteration cap
  double cclip_tau = 1.0;              // cclip: clipping radius around the centre
  int cclip_iterations = 3;            // cclip: clipping iterations per round
};

// Builds the rule named in opts.rule. Unknown name: tdml::UsageError listing the choices.
std::unique_ptr<Aggregator> make_aggregator(const AggregatorOptions& opts);
// The rule names make_aggregator accepts.
std::vector<std::string> aggregator_names();

}  // namespace tdml::fl
