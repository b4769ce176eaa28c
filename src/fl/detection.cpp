#include "tdml/fl/detection.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

// The usual median (mean of the two middle values for an even count) of a few scores.
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Robust {
  double median;
  double scale;
};

Robust robust_stats(const std::vector<double>& v, double rel_floor) {
  const double med = median_of(v);
  std::vector<double> dev(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) dev[i] = std::abs(v[i] - med);
  const double mad = median_of(dev);
  return {med, std::max({1.4826 * mad, rel_floor * std::abs(med), 1e-12})};
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

std::vector<ClientScore> score_updates(const torch::Tensor& updates,
                                       const std::vector<int>& clients,
                                       const DetectionOptions& opts) {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "detection: updates must be float [n, d]");
  const int n = updates.size(0);
  TDML_CHECK(static_cast<int>(clients.size()) == n, "detection: one client id per row");
  std::vector<ClientScore> out(n);
  if (n == 0) return out;

  // Big [n, d] work stays in the updates' dtype (float32); the n scores become doubles.
  // The reference is the lower middle value, as CoordinateMedian (kthvalue beats median).
  auto ref = std::get<0>(updates.kthvalue((n - 1) / 2 + 1, 0));
  auto nm = to_vector(updates.norm(2, 1));
  auto d = to_vector((updates - ref).norm(2, 1));
  auto dots = to_vector(torch::matmul(updates, ref));
  const double ref_norm = ref.norm().item<double>();
  std::vector<double> cs(n, 0.0);
  for (int i = 0; i < n; ++i) {
    if (nm[i] * ref_norm > 0) cs[i] = dots[i] / (nm[i] * ref_norm);
  }
  for (int i = 0; i < n; ++i) {
    out[i].client = clients[i];
    out[i].distance = d[i];
    out[i].norm = nm[i];
    out[i].cosine_to_reference = cs[i];
  }
  if (n < 3) return out;

  const auto rd = robust_stats(d, opts.rel_floor);
  const auto rn = robust_stats(nm, opts.rel_floor);
  for (int i = 0; i < n; ++i) {
    std::string why;
    auto add = [&](const char* r) { why += (why.empty() ? "" : "+") + std::string(r); };
    if (d[i] > rd.median + opts.k * rd.scale) add("distance");
    if (std::abs(nm[i] - rn.median) > opts.norm_k * rn.scale) add("norm");
    if (cs[i] < opts.min_cosine) add("cosine");
    out[i].flagged = !why.empty();
    out[i].reason = why;
  }
  return out;
}

std::vector<int> flagged_clients(const std::vector<ClientScore>& scores) {
  std::vector<int> out;
  for (const auto& s : scores) {
    if (s.flagged) out.push_back(s.client);
  }
  std::sort(out.begin(), out.end());
  return out;
}

DetectionQuality detection_quality(const std::vector<int>& detected,
                                   const std::vector<int>& malicious) {
  std::set<int> det(detected.begin(), detected.end()), mal(malicious.begin(), malicious.end());
  DetectionQuality q;
  for (int c : det) (mal.count(c) ? q.true_positives : q.false_positives)++;
  for (int c : mal) q.false_negatives += det.count(c) ? 0 : 1;
  if (!det.empty()) q.precision = static_cast<double>(q.true_positives) / det.size();
  if (!mal.empty()) q.recall = static_cast<double>(q.true_positives) / mal.size();
  return q;
}

}  // namespace tdml::fl
