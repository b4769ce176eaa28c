#include "tdml/fl/attacks.h"

#include <cmath>
#include <sstream>

#include "fl/seed.h"
#include "tdml/fl/adaptive_attacks.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

constexpr std::uint64_t kSaltGaussian = 0x6761;  // "ga"
constexpr std::uint64_t kSaltPoison = 0x706f;    // "po"

const char* const kUpdateNames[] = {"none",      "zero",              "mean-shift", "gaussian",
                                    "sign-flip", "model-replacement", "alie",       "ipm",
                                    "minmax"};
constexpr int kUpdateCount = 9;
const char* const kDataNames[] = {"none", "backdoor", "label-flip"};

std::string choices() {
  std::string s;
  for (auto* n : kUpdateNames) s += std::string(s.empty() ? "" : ", ") + n;
  for (int i = 1; i < 3; ++i) s += std::string(", ") + kDataNames[i];
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

void check_images(const torch::Tensor& images, const AttackOptions& opts, const char* what) {
  if (!images.defined() || images.dim() != 4 || !images.is_floating_point()) {
    throw UsageError(std::string(what) + ": images must be a float [B,C,H,W] normalised tensor");
  }
  if (opts.trigger_size < 1 || opts.trigger_size > images.size(2) ||
      opts.trigger_size > images.size(3)) {
    throw UsageError(std::string(what) + ": trigger size " + std::to_string(opts.trigger_size) +
                     " does not fit " + std::to_string(images.size(2)) + "x" +
                     std::to_string(images.size(3)) + " images");
  }
}

}  // namespace

std::string to_string(UpdateAttack a) { return kUpdateNames[static_cast<int>(a)]; }
std::string to_string(DataAttack a) { return kDataNames[static_cast<int>(a)]; }

std::string ClientAttack::to_string() const {
  if (!malicious()) return "none";
  if (data == DataAttack::kNone) return fl::to_string(update);
  if (update == UpdateAttack::kNone) return fl::to_string(data);
  return fl::to_string(data) + "+" + fl::to_string(update);
}

ClientAttack parse_client_attack(const std::string& spec) {
  ClientAttack out;
  std::stringstream ss(spec);
  std::string word;
  bool any = false;
  while (std::getline(ss, word, '+')) {
    word = trim(word);
    bool found = false;
    for (int i = 0; i < kUpdateCount && !found; ++i) {
      if (word != kUpdateNames[i]) continue;
      found = true;
      if (i == 0) break;
      if (out.update != UpdateAttack::kNone) {
        throw UsageError("attack '" + spec + "': at most one update-space attack per client");
      }
      out.update = static_cast<UpdateAttack>(i);
    }
    for (int i = 1; i < 3 && !found; ++i) {
      if (word != kDataNames[i]) continue;
      found = true;
      if (out.data != DataAttack::kNone) {
        throw UsageError("attack '" + spec + "': at most one data-space attack per client");
      }
      out.data = static_cast<DataAttack>(i);
    }
    if (!found) {
      throw UsageError("unknown attack '" + word + "' in '" + spec + "' (choices: " + choices() +
                       "; combine a data and an update attack with '+')");
    }
    any = true;
  }
  if (!any) throw UsageError("empty attack spec (choices: " + choices() + ")");
  if (out.adaptive() && out.data != DataAttack::kNone) {
    throw UsageError("attack '" + spec + "': " + fl::to_string(out.update) +
                     " crafts its update from the benign ones; it takes no data attack");
  }
  return out;
}

std::vector<ClientAttack> parse_attack_mix(const std::string& spec) {
  std::vector<ClientAttack> mix;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) mix.push_back(parse_client_attack(item));
  if (mix.empty()) throw UsageError("empty attack mix (choices: " + choices() + ")");
  return mix;
}

torch::Tensor apply_update_attack(UpdateAttack a, const torch::Tensor& honest,
                                  const AttackOptions& opts, std::uint64_t seed) {
  switch (a) {
    case UpdateAttack::kNone:
      return honest.clone();
    case UpdateAttack::kZero:
      return torch::zeros_like(honest);
    case UpdateAttack::kMeanShift:
      return honest + opts.shift;
    case UpdateAttack::kGaussian: {
      // Drawn on the CPU so the noise is the same on every device, then moved.
      auto gen = at::detail::createCPUGenerator(seed);
      auto noise = at::normal(0.0, 1.0, honest.sizes(), gen,
                              torch::TensorOptions().dtype(honest.scalar_type()));
      return (noise * opts.sigma).to(honest.device());
    }
    case UpdateAttack::kSignFlip:
      return -honest;
    case UpdateAttack::kModelReplacement:
      return honest * opts.boost;
    case UpdateAttack::kAlie:
    case UpdateAttack::kIpm:
    case UpdateAttack::kMinMax:
      // Crafted from the round's benign updates (AttackPlan::craft_adaptive); until then the
      // client's own update stands in.
      return honest.clone();
  }
  throw Error("unknown update attack");
}

torch::Tensor stamp_trigger(const torch::Tensor& images, const AttackOptions& opts,
                            const torch::Tensor& rows) {
  check_images(images, opts, "backdoor trigger");
  auto out = images.clone();
  const std::int64_t h = images.size(2), w = images.size(3), s = opts.trigger_size;
  auto patch = out.slice(2, h - s, h).slice(3, w - s, w);
  if (!rows.defined()) {
    patch.fill_(opts.trigger_value);
  } else {
    TDML_CHECK(rows.dim() == 1 && rows.size(0) == images.size(0),
               "backdoor trigger: row mask must be bool [B]");
    auto m = rows.to(torch::kBool).to(images.device()).view({-1, 1, 1, 1});
    patch.masked_fill_(m.expand_as(patch), opts.trigger_value);
  }
  return out;
}

torch::Tensor choose_poisoned(std::int64_t n, double poison_rate, std::uint64_t seed) {
  if (!(poison_rate >= 0 && poison_rate <= 1)) {
    throw UsageError("backdoor: poison rate must be in [0, 1], got " + std::to_string(poison_rate));
  }
  auto k = static_cast<std::int64_t>(std::floor(poison_rate * static_cast<double>(n) + 1e-9));
  auto gen = at::detail::createCPUGenerator(seed);
  auto perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
  auto mask = torch::zeros({n}, torch::kBool);
  mask.index_fill_(0, perm.slice(0, 0, k), true);
  return mask;
}

PoisonedBatch poison_batch(const torch::Tensor& images, const torch::Tensor& labels,
                           const torch::Tensor& poisoned, const AttackOptions& opts) {
  TDML_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0),
             "backdoor: labels must be int64 [B] matching the images");
  PoisonedBatch out;
  out.images = stamp_trigger(images, opts, poisoned);
  auto m = poisoned.to(torch::kBool).to(labels.device());
  out.labels = labels.masked_fill(m, opts.target);
  return out;
}

torch::Tensor flip_labels(const torch::Tensor& labels, const AttackOptions& opts, int num_classes) {
  if (opts.flip_from < 0) return (num_classes - 1) - labels;
  if (opts.flip_from >= num_classes || opts.flip_to < 0 || opts.flip_to >= num_classes) {
    throw UsageError("label flip: classes must be in 0.." + std::to_string(num_classes - 1));
  }
  return labels.masked_fill(labels == opts.flip_from, opts.flip_to);
}

TriggeredTestSet make_triggered_test_set(const torch::Tensor& images, const torch::Tensor& labels,
                                         const AttackOptions& opts, bool non_target_only) {
  check_images(images, opts, "triggered test set");
  TDML_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0),
             "triggered test set: labels must be int64 [N] matching the images");
  TriggeredTestSet out;
  out.rows = non_target_only ? torch::nonzero(labels.cpu() != opts.target).reshape({-1})
                             : torch::arange(labels.size(0), torch::kInt64);
  auto rows = out.rows.to(images.device());
  out.images = stamp_trigger(images.index_select(0, rows), opts);
  out.labels = labels.index_select(0, out.rows.to(labels.device()));
  return out;
}

double attack_success_rate(const torch::Tensor& predictions, std::int64_t target) {
  if (predictions.numel() == 0) return 0.0;
  return (predictions == target).to(torch::kFloat64).mean().item<double>();
}

int malicious_count(int clients, double fraction) {
  if (!(fraction >= 0 && fraction <= 1)) {
    throw UsageError("malicious fraction must be in [0, 1], got " + std::to_string(fraction));
  }
  return static_cast<int>(clients * fraction);
}

AttackPlan::AttackPlan(int clients) : roles_(std::max(clients, 0)) {}

AttackPlan::AttackPlan(int clients, int malicious, std::vector<ClientAttack> mix,
                       AttackOptions opts, std::uint64_t seed)
    : roles_(std::max(clients, 0)), opts_(opts), seed_(seed) {
  if (malicious < 0 || malicious > clients) {
    throw UsageError("malicious clients must be in 0.." + std::to_string(clients) + ", got " +
                     std::to_string(malicious));
  }
  if (malicious > 0 && mix.empty()) throw UsageError("malicious clients need an attack mix");
  for (const auto& m : mix) {
    if (!m.malicious()) throw UsageError("attack mix entries must not be 'none'");
  }
  for (int i = 0; i < malicious; ++i) roles_[i] = mix[i % mix.size()];
}

AttackPlan AttackPlan::with_roles(std::vector<ClientAttack> roles, AttackOptions opts,
                                  std::uint64_t seed) {
  AttackPlan p(0);
  p.roles_ = std::move(roles);
  p.opts_ = opts;
  p.seed_ = seed;
  return p;
}

const ClientAttack& AttackPlan::of(int client) const {
  TDML_CHECK(client >= 0 && client < clients(),
             "attack plan: client " << client << " out of range 0.." << clients() - 1);
  return roles_[client];
}

std::vector<int> AttackPlan::malicious_clients() const {
  std::vector<int> out;
  for (int i = 0; i < clients(); ++i) {
    if (roles_[i].malicious()) out.push_back(i);
  }
  return out;
}

bool AttackPlan::any_adaptive() const {
  for (const auto& r : roles_) {
    if (r.adaptive()) return true;
  }
  return false;
}

torch::Tensor AttackPlan::craft_adaptive(UpdateAttack a, const torch::Tensor& benign, int n,
                                         int f) const {
  switch (a) {
    case UpdateAttack::kAlie:
      return alie_update(benign, opts_.alie_z >= 0 ? opts_.alie_z : alie_z(n, f));
    case UpdateAttack::kIpm:
      return ipm_update(benign, opts_.ipm_eps);
    case UpdateAttack::kMinMax:
      return minmax_update(benign);
    default:
      throw Error("craft_adaptive: " + fl::to_string(a) + " is not an adaptive attack");
  }
}

bool AttackPlan::any_backdoor() const {
  for (const auto& r : roles_) {
    if (r.data == DataAttack::kBackdoor) return true;
  }
  return false;
}

torch::Tensor AttackPlan::apply_update(int client, int round, const torch::Tensor& honest) const {
  return apply_update_attack(of(client).update, honest, opts_,
                             derive_seed(seed_, kSaltGaussian, round, client));
}

torch::Tensor AttackPlan::poisoned_mask(int client, std::int64_t n) const {
  if (of(client).data != DataAttack::kBackdoor) return torch::zeros({n}, torch::kBool);
  return choose_poisoned(n, opts_.poison_rate, derive_seed(seed_, kSaltPoison, client));
}

torch::Tensor AttackPlan::training_labels(int client, const torch::Tensor& labels,
                                          int num_classes) const {
  if (of(client).data != DataAttack::kLabelFlip) return labels;
  return flip_labels(labels, opts_, num_classes);
}

}  // namespace tdml::fl
