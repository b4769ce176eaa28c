#include "tdml/train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "train/optimizer_state.h"

namespace tdml::train {

namespace {

std::string file_name(const std::string& stem, int rank) {
  return rank == 0 ? stem + ".pt" : stem + ".rank-" + std::to_string(rank) + ".pt";
}

constexpr const char kMetaName[] = "tdml_meta";
constexpr const char kStatePrefix[] = "tdml_state_";

// train_state.pt as read back: its tensors by name and its record (progress, the state tensors'
// names, the optimizer's options). A file that is not one is a tdml::Error naming it.
struct TrainState {
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json record;
  CheckpointMeta meta;
};

TrainState read_state(const std::string& path) {
  TrainState st;
  for (auto& [name, t] : models::load_tensors(path)) st.tensors.emplace(name, std::move(t));
  const auto it = st.tensors.find(kMetaName);
  if (it == st.tensors.end() || it->second.scalar_type() != torch::kUInt8 ||
      it->second.dim() != 1) {
    throw Error(path + " holds no tdml progress record (not a tdml training state)");
  }
  const auto bytes = it->second.contiguous();
  const std::string text(static_cast<const char*>(bytes.data_ptr()),
                         static_cast<std::size_t>(bytes.numel()));
  try {
    st.record = nlohmann::json::parse(text);
    auto& meta = st.meta;
    meta.model = st.record.at("model").get<std::string>();
    meta.epochs_done = st.record.at("epochs_done").get<int>();
    meta.global_step = st.record.at("global_step").get<std::int64_t>();
    meta.weights_fingerprint = st.record.at("weights_fingerprint").get<double>();
    meta.epoch_batches = st.record.value("epoch_batches", std::int64_t{0});
    meta.epoch_seconds = st.record.value("epoch_seconds", 0.0);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + " holds a malformed tdml progress record (" + e.what() + ")");
  }
  return st;
}

constexpr const char kStepPrefix[] = "step-";
constexpr const char kPartialPrefix[] = ".partial-";

std::string checkpoints_dir(const std::string& run_dir) { return run_dir + "/checkpoints"; }

// The step of a "step-<N>" folder name, or -1.
std::int64_t step_of(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

bool holds_pair(const std::string& dir, int rank) {
  return std::filesystem::exists(dir + "/" + file_name("checkpoint", rank)) &&
         std::filesystem::exists(dir + "/" + file_name("train_state", rank));
}

}  // namespace

double weights_fingerprint(const torch::nn::Module& m) {
  double s = 0;
  for (const auto& [name, t] : models::state_dict(m)) {
    if (t.is_floating_point()) s += t.to(torch::kDouble).sum().item<double>();
  }
  return s;
}

void save_checkpoint(const std::string& dir, const models::Model& model,
                     torch::optim::Optimizer& opt, const CheckpointMeta& meta,
                     const StateTensors& extra, int rank) {
  util::make_dirs(dir);
  models::save_tensors(dir + "/" + file_name("checkpoint", rank), models::state_dict(model));
  models::StateDict tensors;
  const auto optimizer = detail::collect_optimizer_state(opt, tensors);
  std::vector<std::string> names;
  for (const auto& [name, t] : extra) {
    TDML_CHECK(t.defined(), "checkpoint: state tensor '" << name << "' is undefined");
    tensors.emplace_back(kStatePrefix + name, t.detach().cpu());
    names.push_back(name);
  }
  const nlohmann::json record = {{"model", meta.model},
                                 {"epochs_done", meta.epochs_done},
                                 {"global_step", meta.global_step},
                                 {"weights_fingerprint", meta.weights_fingerprint},
                                 {"epoch_batches", meta.epoch_batches},
                                 {"epoch_seconds", meta.epoch_seconds},
                                 {"state_tensors", names},
                                 {"optimizer", optimizer}};
  const auto text = record.dump();
  tensors.emplace_back(kMetaName, torch::tensor(std::vector<std::uint8_t>(text.begin(), text.end()),
                                                torch::kUInt8));
  models::save_tensors(dir + "/" + file_name("train_state", rank), tensors);
}

CheckpointMeta load_checkpoint(const std::string& dir, models::Model& model,
                               torch::optim::Optimizer& opt, StateTensors* extra, int rank) {
  const std::string weights = dir + "/" + file_name("checkpoint", rank);
  const std::string state = dir + "/" + file_name("train_state", rank);
  for (const auto& f : {weights, state}) {
    if (!std::filesystem::exists(f)) {
      throw Error("cannot resume: " + f +
                  " is missing (was the run started with --save or --save-every?)");
    }
  }
  const TrainState st = read_state(state);
  const CheckpointMeta& meta = st.meta;
  if (meta.model != model.name()) {
    throw Error("cannot resume: " + dir + " holds a " + meta.model + " checkpoint, not " +
                model.name());
  }
  models::load_state_dict(model, models::load_tensors(weights), /*strict=*/true);
  const double fp = weights_fingerprint(model);
  if (fp != meta.weights_fingerprint) {
    throw Error("cannot resume: " + weights + " and " + state +
                " are from different epochs (interrupted save?); delete both to start over");
  }
  if (!st.record.contains("optimizer")) {
    throw Error("cannot resume: " + state + " holds no optimizer state");
  }
  detail::restore_optimizer_state(opt, st.tensors, st.record["optimizer"], state);
  if (extra) {
    extra->clear();
    std::vector<std::string> names;
    try {
      names = st.record.value("state_tensors", std::vector<std::string>{});
    } catch (const nlohmann::json::exception& e) {
      throw Error("cannot resume: " + state + " lists its state tensors wrongly (" + e.what() +
                  ")");
    }
    for (const auto& name : names) {
      const auto it = st.tensors.find(kStatePrefix + name);
      if (it == st.tensors.end()) {
        throw Error("cannot resume: " + state + " lacks its state tensor '" + name + "'");
      }
      (*extra)[name] = it->second;
    }
  }
  return meta;
}

std::string partial_step_dir(const std::string& run_dir, std::int64_t step) {
  return checkpoints_dir(run_dir) + "/" + kPartialPrefix + std::to_string(step);
}

void publish_step_checkpoint(const std::string& run_dir, std::int64_t step, int keep) {
  namespace fs = std::filesystem;
  const std::string root = checkpoints_dir(run_dir);
  const std::string final_dir = root + "/" + kStepPrefix + std::to_string(step);
  std::error_code ec;
  fs::remove_all(final_dir, ec);  // a step saved before a restart, about to be replaced
  fs::rename(partial_step_dir(run_dir, step), final_dir, ec);
  if (ec) throw Error("cannot publish checkpoint " + final_dir + ": " + ec.message());
  std::vector<std::int64_t> steps;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (const auto s = step_of(name, kStepPrefix); s >= 0) steps.push_back(s);
    if (step_of(name, kPartialPrefix) >= 0) fs::remove_all(e.path(), ec);
  }
  std::sort(steps.rbegin(), steps.rend());
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < steps.size(); ++i) {
    fs::remove_all(root + "/" + kStepPrefix + std::to_string(steps[i]), ec);
  }
}

std::vector<std::string> resume_candidates(const std::string& run_dir, int rank,
                                           bool with_epoch_checkpoint) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::int64_t, std::string>> found;  // (step, folder); -1: unreadable
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir(run_dir), ec)) {
    const auto s = step_of(e.path().filename().string(), kStepPrefix);
    if (s >= 0 && holds_pair(e.path().string(), rank)) found.emplace_back(s, e.path().string());
  }
  if (with_epoch_checkpoint && holds_pair(run_dir, rank)) {
    std::int64_t s = -1;
    try {
      s = read_state(run_dir + "/" + file_name("train_state", rank)).meta.global_step;
    } catch (const Error&) {
    }
    found.emplace_back(s, run_dir);
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::string infer_model_name(const std::string& checkpoint_path) {
  auto sd = models::load_tensors(checkpoint_path);
  for (const auto& info : models::list_models()) {
    auto m = models::make_model(info.name);
    auto ref = models::state_dict(*m);
    if (ref.size() != sd.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < ref.size() && same; ++i) {
      same = ref[i].first == sd[i].first && ref[i].second.sizes() == sd[i].second.sizes();
    }
    if (same) return info.name;
  }
  return "";
}

}  // namespace tdml::train
