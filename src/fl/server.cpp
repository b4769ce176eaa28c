#include "tdml/fl/server.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

}  // namespace

RobustServer::RobustServer(ServerOptions opts)
    : opts_(std::move(opts)), rule_(make_aggregator(opts_.aggregator)) {
  if (opts_.clip_norm < 0) throw UsageError("clip norm must be >= 0 (0 = no clipping)");
}

RoundAggregation RobustServer::aggregate(const std::vector<torch::Tensor>& updates,
                                         const std::vector<double>& weights) const {
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

  // 4. Clip.
  auto clip = clip_rows(x, opts_.clip_norm);
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
  auto agg = rule_->aggregate(clip.updates, w);
  r.update = agg.update;
  r.selected = map_ids(agg.selected, keep);
  r.iterations = agg.iterations;

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
