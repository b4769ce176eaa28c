#include "tdml/train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::train {

namespace {

// The first non-empty line of an exception's message (LibTorch's add backtraces, source excerpts).
std::string first_line(const std::string& s) {
  const auto start = s.find_first_not_of(" \n");
  if (start == std::string::npos) return "";
  return s.substr(start, s.find('\n', start) - start);
}

// The progress record of train_state.pt; a missing or garbled one is a tdml::Error naming the file.
// `names` (when given) gets the state tensors the record lists.
CheckpointMeta read_meta(torch::serialize::InputArchive& ar, const std::string& state,
                         std::vector<std::string>* names = nullptr) {
  try {
    c10::IValue meta_v;
    ar.read("tdml_meta", meta_v);
    auto j = nlohmann::json::parse(meta_v.toStringRef());
    CheckpointMeta meta;
    meta.model = j.at("model").get<std::string>();
    meta.epochs_done = j.at("epochs_done").get<int>();
    meta.global_step = j.at("global_step").get<std::int64_t>();
    meta.weights_fingerprint = j.at("weights_fingerprint").get<double>();
    meta.epoch_batches = j.value("epoch_batches", std::int64_t{0});
    meta.epoch_seconds = j.value("epoch_seconds", 0.0);
    if (names) *names = j.value("state_tensors", std::vector<std::string>{});
    return meta;
  } catch (const nlohmann::json::exception& e) {
    throw Error(state + " holds a malformed tdml progress record (" + e.what() + ")");
  } catch (const std::exception& e) {  // c10::Error, torch::jit::ObjectAttributeError
    throw Error(state + " holds no tdml progress record (" + first_line(e.what()) + ")");
  }
}

std::string file_name(const std::string& stem, int rank) {
  return rank == 0 ? stem + ".pt" : stem + ".rank-" + std::to_string(rank) + ".pt";
}

// Opens DIR's train_state file of `rank` (tdml::Error naming it when it is not an archive).
void open_state(const std::string& state, torch::serialize::InputArchive& ar) {
  std::istringstream is(util::read_file(state));
  try {
    ar.load_from(is);
  } catch (const std::exception& e) {  // c10::Error, torch::jit::ErrorReport (a garbled archive)
    throw Error(state + " is not a tdml training state (" + first_line(e.what()) + ")");
  }
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
  torch::serialize::OutputArchive ar;
  opt.save(ar);
  std::vector<std::string> names;
  for (const auto& [name, t] : extra) {
    TDML_CHECK(t.defined(), "checkpoint: state tensor '" << name << "' is undefined");
    ar.write("tdml_state_" + name, t.detach().cpu().clone());
    names.push_back(name);
  }
  nlohmann::json j = {{"model", meta.model},
                      {"epochs_done", meta.epochs_done},
                      {"global_step", meta.global_step},
                      {"weights_fingerprint", meta.weights_fingerprint},
                      {"epoch_batches", meta.epoch_batches},
                      {"epoch_seconds", meta.epoch_seconds},
                      {"state_tensors", names}};
  ar.write("tdml_meta", c10::IValue(j.dump()));
  std::ostringstream os;
  ar.save_to(os);
  util::write_file_atomic(dir + "/" + file_name("train_state", rank), os.str());
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
  torch::serialize::InputArchive ar;
  open_state(state, ar);
  std::vector<std::string> names;
  const CheckpointMeta meta = read_meta(ar, state, &names);
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
  try {
    opt.load(ar);
  } catch (const std::exception& e) {  // c10::Error: a tensor missing or of another kind
    throw Error("cannot resume: " + state + " does not hold this run's optimizer state (" +
                first_line(e.what()) + ")");
  }
  if (extra) {
    extra->clear();
    for (const auto& name : names) {
      torch::Tensor t;
      try {
        ar.read("tdml_state_" + name, t);
      } catch (const std::exception& e) {
        throw Error("cannot resume: " + state + " lacks its state tensor '" + name + "' (" +
                    first_line(e.what()) + ")");
      }
      (*extra)[name] = t;
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
      torch::serialize::InputArchive ar;
      const std::string state = run_dir + "/" + file_name("train_state", rank);
      open_state(state, ar);
      s = read_meta(ar, state).global_step;
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
