#pragma once
// Per-round detection of suspicious client updates, and how good it was against the known
// malicious set (the simulation knows who attacks; a real server would not).
//
// Scores, computed on the received finite updates BEFORE clipping (clipping erases the norm
// signal): for each client,
//  - distance: L2 distance to the coordinate-wise median of all scored updates (the robust
//    reference, available before aggregation);
//  - cosine_to_reference: cosine similarity to that median (0 for a zero vector);
//  - norm: the update's L2 norm;
//  - cosine_to_aggregate: filled by the server after aggregation (NaN until then).
// Flagging rule (robust z-scores; scale = max(1.4826 * MAD, rel_floor * median, 1e-12)):
//  - "distance": distance > median(distance) + k * scale(distance)          (one-sided)
//  - "norm":     |norm - median(norm)| > norm_k * scale(norm)                (two-sided: a
//                zero update is as suspicious as a huge one)
//  - "cosine":   cosine_to_reference < min_cosine (default 0: pointing against the crowd)
// With fewer than 3 scored clients nothing is flagged (no crowd to compare with).
// Pure functions, thread-safe.
#include <torch/torch.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace tdml::fl {

struct DetectionOptions {
  double k = 3.0;                // distance threshold in robust standard deviations
  double norm_k = 3.0;           // norm threshold in robust standard deviations (two-sided)
  double min_cosine = 0.0;       // flag cosine_to_reference below this; -2 disables the rule
  double rel_floor = 0.15;       // scale floor as a fraction of the median: MAD of a few benign
                                 // clients is noisy (0.05 flagged a benign FedAvg client of 5 at
                                 // 1.16x the median distance on CIFAR-10)
  bool exclude_flagged = false;  // the server drops flagged updates before aggregating
};

struct ClientScore {
  int client = 0;       // client id
  double distance = 0;  // L2 to the coordinate median
  double cosine_to_reference = 0;
  double cosine_to_aggregate = std::numeric_limits<double>::quiet_NaN();
  double norm = 0;
  bool flagged = false;
  std::string reason;  // "", or the rules that fired joined by '+': "distance+norm"
};

// Scores and flags the rows of `updates` (float [n, d], finite); clients[i] is row i's id.
std::vector<ClientScore> score_updates(const torch::Tensor& updates,
                                       const std::vector<int>& clients,
                                       const DetectionOptions& opts);

// Ids of the flagged scores, ascending.
std::vector<int> flagged_clients(const std::vector<ClientScore>& scores);

struct DetectionQuality {
  int true_positives = 0;
  int false_positives = 0;
  int false_negatives = 0;
  std::optional<double> precision;  // TP / detected; none when nothing was detected
  std::optional<double> recall;     // TP / malicious; none when nobody is malicious
};

// Compares the detected ids (flagged, and the server counts rejected non-finite ones too)
// with the truly malicious ids.
DetectionQuality detection_quality(const std::vector<int>& detected,
                                   const std::vector<int>& malicious);

}  // namespace tdml::fl
