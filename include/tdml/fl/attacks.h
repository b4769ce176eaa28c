#pragma once
// Attacks by malicious federated clients, in two kinds:
//  - update-space: the client computes its honest update (a flat float [d] tensor, see
//    update.h) and sends something else: zeros, update + shift, pure Gaussian noise, the
//    negated update, or the update boosted for model replacement (Bagdasaryan et al. 2020).
//  - data-space: the client trains on poisoned data: a backdoor (a square trigger stamped at
//    the bottom-right of a fixed fraction of its images, relabelled to a target class) or label
//    flipping. The trigger lives in NORMALISED image space (value 2.5 after mean/std
//    normalisation, as the study), so it is applied to normalised float batches; labels are
//    changed on the client's int64 labels.
// A client may combine one data attack with one update attack ("backdoor+model-replacement").
// An AttackPlan says which clients are malicious and what each does.
//
// Everything is deterministic: random draws use seeds derived from (plan seed, round, client).
// Functions are pure and thread-safe; AttackPlan is immutable after construction.
// Bad specs throw tdml::UsageError naming the offending word and the choices.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tdml::fl {

enum class UpdateAttack {
  kNone,
  kZero,
  kMeanShift,
  kGaussian,
  kSignFlip,
  kModelReplacement,
  // Adaptive, omniscient and colluding (adaptive_attacks.h): crafted from the round's benign
  // updates, so the round engine's simulation computes them, not apply_update_attack.
  kAlie,
  kIpm,
  kMinMax
};
enum class DataAttack { kNone, kBackdoor, kLabelFlip };

// "none", "zero", "mean-shift", "gaussian", "sign-flip", "model-replacement", "alie", "ipm",
// "minmax".
std::string to_string(UpdateAttack a);
// "none", "backdoor", "label-flip".
std::string to_string(DataAttack a);

struct AttackOptions {
  // Update space.
  double shift = 5.0;   // mean-shift: every coordinate of the update gets + shift (study 5.0)
  double sigma = 10.0;  // gaussian: the client sends N(0, sigma^2) noise instead (study 10.0)
  double boost = 10.0;  // model replacement: the (backdoored) update is multiplied by this
                        // (Bagdasaryan et al. use about n_clients / server_lr)
  double alie_z = -1;   // alie: fixed z (-1: from the round's n and f, as the paper)
  double ipm_eps = 0.5; // ipm: the crafted update is -eps * mean of the benign updates
  // Data space: backdoor.
  double poison_rate = 0.2;    // fraction of the client's samples poisoned (study 0.2)
  int trigger_size = 4;        // side of the square trigger in pixels (study 4)
  double trigger_value = 2.5;  // value written into all channels, normalised space (study 2.5)
  std::int64_t target = 0;     // label given to triggered samples (study 0)
  // Data space: label flip.
  std::int64_t flip_from = -1;  // class to relabel; -1 = every class c -> num_classes-1-c
  std::int64_t flip_to = 0;     // new label when flip_from >= 0
};

// What one client does. A benign client has both kNone.
struct ClientAttack {
  DataAttack data = DataAttack::kNone;
  UpdateAttack update = UpdateAttack::kNone;
  bool malicious() const { return data != DataAttack::kNone || update != UpdateAttack::kNone; }
  // alie, ipm, minmax: needs the round's benign updates (adaptive_attacks.h).
  bool adaptive() const {
    return update == UpdateAttack::kAlie || update == UpdateAttack::kIpm ||
           update == UpdateAttack::kMinMax;
  }
  // "backdoor+model-replacement", "zero", "none".
  std::string to_string() const;
};

// Parses one client's attack: a word or two joined by '+' (at most one data and one update
// attack), e.g. "mean-shift", "backdoor", "backdoor+model-replacement", "label-flip+sign-flip".
ClientAttack parse_client_attack(const std::string& spec);
// Parses a comma-separated mix, e.g. "backdoor,zero,mean-shift,gaussian".
std::vector<ClientAttack> parse_attack_mix(const std::string& spec);

// ---- Update-space attacks (on one client's flat update) ------------------------------------

// The update a client with attack `a` sends when its honest update is `honest` (float [d]).
// Returns a new tensor; `honest` is not modified. `seed` drives the Gaussian noise only.
torch::Tensor apply_update_attack(UpdateAttack a, const torch::Tensor& honest,
                                  const AttackOptions& opts, std::uint64_t seed);

// ---- Data-space attacks --------------------------------------------------------------------

// Stamps the trigger (trigger_size x trigger_size square of trigger_value in every channel,
// bottom-right corner) on the rows of `images` (float [B,C,H,W], normalised) where `rows` (bool
// [B]) is true; all rows when `rows` is undefined. Returns a new tensor.
torch::Tensor stamp_trigger(const torch::Tensor& images, const AttackOptions& opts,
                            const torch::Tensor& rows = {});

// Which of a client's n samples a backdoor poisons: a bool [n] mask with exactly
// floor(poison_rate * n) true entries chosen by a permutation seeded `seed`. Fixed for the whole
// run (the same samples are poisoned every round/epoch).
torch::Tensor choose_poisoned(std::int64_t n, double poison_rate, std::uint64_t seed);

// A poisoned training batch for a backdoor client: rows where `poisoned` (bool [B]) is true get
// the trigger and the target label. images: float [B,C,H,W] normalised; labels: int64 [B].
struct PoisonedBatch {
  torch::Tensor images;
  torch::Tensor labels;
};
PoisonedBatch poison_batch(const torch::Tensor& images, const torch::Tensor& labels,
                           const torch::Tensor& poisoned, const AttackOptions& opts);

// Label flipping on int64 labels (a new tensor): flip_from -> flip_to, or, with flip_from = -1,
// every c -> num_classes - 1 - c.
torch::Tensor flip_labels(const torch::Tensor& labels, const AttackOptions& opts,
                          int num_classes = 10);

// ---- Measuring a backdoor ------------------------------------------------------------------

// The test set used for the attack success rate (ASR): the chosen test images with the trigger.
struct TriggeredTestSet {
  torch::Tensor images;  // float [M,C,H,W], normalised, trigger stamped
  torch::Tensor labels;  // int64 [M]: the TRUE labels (not the target)
  torch::Tensor rows;    // int64 [M]: rows of the original test set
};

// non_target_only = true (tdml's ASR): only images whose true label != target, so a model that
// merely predicts the target class well does not count as a successful attack.
// non_target_only = false: every image (the study's variant; target-class images that are
// classified correctly count as "successes").
TriggeredTestSet make_triggered_test_set(const torch::Tensor& images, const torch::Tensor& labels,
                                         const AttackOptions& opts, bool non_target_only = true);

// Fraction of `predictions` (int64 [M], on triggered images) equal to the target.
// 0 for an empty set.
double attack_success_rate(const torch::Tensor& predictions, std::int64_t target);

// ---- Who attacks ---------------------------------------------------------------------------

// int(clients * fraction), truncated like Python's int() (the study: int(6 * 0.33) = 1).
int malicious_count(int clients, double fraction);

// Assigns attacks to clients: the first `malicious` clients (0..malicious-1) are malicious and
// client i gets mix[i % mix.size()] (the mix is cycled). The study's setting is
// AttackPlan(6, 1, parse_attack_mix("backdoor,zero,mean-shift,gaussian")): client 0 backdoors.
class AttackPlan {
 public:
  // A plan with no attackers.
  explicit AttackPlan(int clients = 0);
  // malicious in 0..clients; a non-empty mix whose entries are all malicious is required when
  // malicious > 0. `seed` derives every random draw of the plan.
  AttackPlan(int clients, int malicious, std::vector<ClientAttack> mix, AttackOptions opts = {},
             std::uint64_t seed = 0);

  // Explicit roles, one per client (a federation client process knows only its own attack).
  static AttackPlan with_roles(std::vector<ClientAttack> roles, AttackOptions opts = {},
                               std::uint64_t seed = 0);

  int clients() const { return static_cast<int>(roles_.size()); }
  const ClientAttack& of(int client) const;
  bool is_malicious(int client) const { return of(client).malicious(); }
  std::vector<int> malicious_clients() const;
  const AttackOptions& options() const { return opts_; }
  // Whether some client runs a backdoor (then the runner measures the attack success rate).
  bool any_backdoor() const;
  // Whether some client runs an adaptive attack (alie, ipm, minmax).
  bool any_adaptive() const;
  // The vector the adaptive attackers among `sampled` (n clients) send this round, crafted
  // from `benign` (float [k, d], the sampled benign clients' updates). f = attackers sampled.
  torch::Tensor craft_adaptive(UpdateAttack a, const torch::Tensor& benign, int n, int f) const;

  // The update client `client` sends in `round` given its honest update.
  torch::Tensor apply_update(int client, int round, const torch::Tensor& honest) const;
  // Bool mask over the client's n samples poisoned by its backdoor (all false if it has none).
  torch::Tensor poisoned_mask(int client, std::int64_t n) const;
  // Labels the client trains on (label-flipped for a label-flip client, else unchanged).
  torch::Tensor training_labels(int client, const torch::Tensor& labels,
                                int num_classes = 10) const;

 private:
  std::vector<ClientAttack> roles_;
  AttackOptions opts_;
  std::uint64_t seed_ = 0;
};

}  // namespace tdml::fl
