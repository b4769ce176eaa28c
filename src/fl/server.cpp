#include "tdml/fl/server.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fl/seed.h"
#include "tdml/fl/clipping.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

torch::Tensor rows_tensor(const std::vector<int>& rows, const torch::Device& device) {
  return torch::tensor(std::vector<std::int64_t>(rows.begin(), rows.end()), torch::kInt64)
      .to(device);
}

std::vector<int> map_ids(const std::vector<int>& rows, const std::vector<int>& ids) {
  std::vector<int> out;
  out.reserve(rows.size());
  for (int r : rows) out.push_back(ids[r]);
  return out;
}

constexpr std::uint64_t kSaltBucket = 0x6275;  // "bu"
constexpr std::uint64_t kSaltDpSum = 0x6470;   // "dp"
constexpr std::uint64_t kSaltDpCount = 0x6463; // "dc"

}  // namespace

void RobustServer::central_dp(const ClipResult& clip, const AggregationInputs& in,
                              RoundAggregation& r) const {
  const auto& dp = opts_.dp;
  const int n = clip.updates.size(0);
  // The denominator is fixed by the sample, not by who answered: one client moves the
  // result by at most C / m whether it is in the sum or not.
  const int m = std::max(in.sampled, n);
  double sigma = dp.noise;
  double count_sigma = 0;
  if (dp.adaptive) {
    count_sigma = dp.count_noise >= 0 ? dp.count_noise : m / 20.0;
    if (sigma > 0) sigma = update_noise_multiplier(sigma, count_sigma);
  }
  auto sum = clip.updates.to(torch::kFloat32).sum(0);
  r.dp.noise_std = sigma * r.dp.clip;
  if (r.dp.noise_std > 0) {
    auto gen = at::detail::createCPUGenerator(derive_seed(in.seed, kSaltDpSum));
    sum = sum + torch::randn(sum.sizes(), gen, torch::kFloat32).to(sum.device()) * r.dp.noise_std;
  }
  r.update = sum / static_cast<double>(m);
  r.dp.next_clip = r.dp.clip;
  if (dp.adaptive) {
    auto norms = clip.norms.cpu();
    double below = 0;
    for (int i = 0; i < n; ++i) below += norms[i].item<double>() <= r.dp.clip ? 1 : 0;
    if (count_sigma > 0) {
      auto gen = at::detail::createCPUGenerator(derive_seed(in.seed, kSaltDpCount));
      below += torch::randn({1}, gen, torch::kFloat64).item<double>() * count_sigma;
    }
    r.dp.unclipped_fraction = below / m;
    r.dp.next_clip =
        r.dp.clip * std::exp(-dp.clip_lr * (r.dp.unclipped_fraction - dp.target_quantile));
  }
}

void ServerOptions::validate() const {
  const auto rule = make_aggregator(aggregator);
  if (clip_norm < 0) throw UsageError("clip norm must be >= 0 (0 = no clipping)");
  if (bucketing < 1) throw UsageError("--bucketing must be >= 1 (1 = none)");
  if (root_samples < 0) throw UsageError("--root-samples must be >= 0");
  dp.validate();
  if (central_dp() && (rule->name() != "mean" || bucketing > 1)) {
    throw UsageError("central DP (--dp-clip without --dp-local) is DP-FedAvg: it needs "
                     "--aggregator mean and no --bucketing (the noise is calibrated to a sum)");
  }
  if (rule->needs_root() && root_samples < 1) {
    throw UsageError(rule->name() + " needs the server's root set: --root-samples N > 0");
  }
}

RobustServer::RobustServer(ServerOptions opts)
    : opts_(std::move(opts)), rule_(make_aggregator(opts_.aggregator)) {
  opts_.validate();
}

RoundAggregation RobustServer::aggregate(const std::vector<torch::Tensor>& updates,
                                         const std::vector<double>& weights,
                                         const AggregationInputs& in) const {
  const int n = updates.size();
  if (n == 0) throw Error("server: no client updates this round");
  TDML_CHECK(weights.empty() || static_cast<int>(weights.size()) == n,
             "server: " << weights.size() << " weights for " << n << " updates");
  for (const auto& u : updates) {
    TDML_CHECK(u.defined() && u.dim() == 1 && u.numel() == updates[0].numel(),
               "server: every update must be a flat float tensor of the same length");
  }
  RoundAggregation r;
  auto stacked = torch::stack(updates);

  // 1. Non-finite updates never reach any rule.
  auto finite = finite_rows(stacked);
  std::vector<int> keep;
  for (int i = 0; i < n; ++i) (finite[i].item<bool>() ? keep : r.rejected).push_back(i);
  if (keep.empty()) throw Error("server: all " + std::to_string(n) + " updates held NaN/Inf");
  auto x = stacked.index_select(0, rows_tensor(keep, stacked.device()));

  // 2-3. Score on the raw updates; optionally drop the flagged ones.
  if (opts_.detect) {
    r.scores = score_updates(x, keep, opts_.detection);
    r.flagged = flagged_clients(r.scores);
    if (opts_.detection.exclude_flagged && !r.flagged.empty()) {
      std::vector<int> rows, ids;
      for (std::size_t i = 0; i < keep.size(); ++i) {
        if (r.scores[i].flagged) continue;
        rows.push_back(i);
        ids.push_back(keep[i]);
      }
      if (ids.empty()) throw Error("server: detection flagged every client; nothing to aggregate");
      r.excluded = r.flagged;
      x = x.index_select(0, rows_tensor(rows, x.device()));
      keep = ids;
    }
  }
  r.aggregated = keep;

  // 4. Clip (to the smaller of --max-norm and central DP's C).
  double bound = opts_.clip_norm;
  if (opts_.central_dp()) {
    r.dp.on = true;
    r.dp.clip = in.dp_clip > 0 ? in.dp_clip : opts_.dp.clip;
    bound = bound > 0 ? std::min(bound, r.dp.clip) : r.dp.clip;
  }
  auto clip = clip_rows(x, bound);
  r.norms.assign(n, std::numeric_limits<double>::quiet_NaN());
  for (const auto& s : r.scores) r.norms[s.client] = s.norm;
  for (std::size_t i = 0; i < keep.size(); ++i) r.norms[keep[i]] = clip.norms[i].item<double>();
  r.clipped = map_ids(clip.clipped, keep);
  r.clip_ratio = static_cast<double>(r.clipped.size()) / keep.size();

  // 5. Aggregate.
  torch::Tensor w;
  if (!weights.empty()) {
    std::vector<double> kw;
    for (int c : keep) kw.push_back(weights[c]);
    w = torch::tensor(kw, torch::kFloat64);
  }
  if (r.dp.on) {
    central_dp(clip, in, r);
    r.selected = keep;
  } else if (opts_.bucketing > 1) {
    auto b = bucket_average(clip.updates, w, opts_.bucketing, derive_seed(in.seed, kSaltBucket));
    r.buckets = static_cast<int>(b.members.size());
    Aggregate agg;
    try {
      agg = rule_->aggregate_with(b.means, b.weights, in.rule);
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {
      throw Error("after bucketing " + std::to_string(keep.size()) + " updates into " +
                  std::to_string(r.buckets) + " buckets of " + std::to_string(opts_.bucketing) +
                  ": " + e.what());
    }
    r.update = agg.update;
    std::vector<int> rows;
    for (int sel : agg.selected) {
      rows.insert(rows.end(), b.members[sel].begin(), b.members[sel].end());
    }
    std::sort(rows.begin(), rows.end());
    r.selected = map_ids(rows, keep);
    r.iterations = agg.iterations;
  } else {
    auto agg = rule_->aggregate_with(clip.updates, w, in.rule);
    r.update = agg.update;
    r.selected = map_ids(agg.selected, keep);
    r.iterations = agg.iterations;
  }

  if (!r.scores.empty()) {
    auto ref = r.update.to(torch::kFloat64);
    const double ref_norm = ref.norm().item<double>();
    std::vector<int> scored;
    for (const auto& s : r.scores) scored.push_back(s.client);
    auto xs = stacked.index_select(0, rows_tensor(scored, stacked.device()));
    auto dots = torch::matmul(xs.to(torch::kFloat64), ref).cpu();
    for (std::size_t i = 0; i < r.scores.size(); ++i) {
      const double denom = r.scores[i].norm * ref_norm;
      r.scores[i].cosine_to_aggregate = denom > 0 ? dots[i].item<double>() / denom : 0.0;
    }
  }
  return r;
}

}  // namespace tdml::fl
