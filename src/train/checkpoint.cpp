#include "tdml/train/checkpoint.h"

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
CheckpointMeta read_meta(torch::serialize::InputArchive& ar, const std::string& state) {
  try {
    c10::IValue meta_v;
    ar.read("tdml_meta", meta_v);
    auto j = nlohmann::json::parse(meta_v.toStringRef());
    CheckpointMeta meta;
    meta.model = j.at("model").get<std::string>();
    meta.epochs_done = j.at("epochs_done").get<int>();
    meta.global_step = j.at("global_step").get<std::int64_t>();
    meta.weights_fingerprint = j.at("weights_fingerprint").get<double>();
    return meta;
  } catch (const nlohmann::json::exception& e) {
    throw Error(state + " holds a malformed tdml progress record (" + e.what() + ")");
  } catch (const std::exception& e) {  // c10::Error, torch::jit::ObjectAttributeError
    throw Error(state + " holds no tdml progress record (" + first_line(e.what()) + ")");
  }
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
                     torch::optim::Optimizer& opt, const CheckpointMeta& meta) {
  util::make_dirs(dir);
  models::save_tensors(dir + "/checkpoint.pt", models::state_dict(model));
  torch::serialize::OutputArchive ar;
  opt.save(ar);
  nlohmann::json j = {{"model", meta.model},
                      {"epochs_done", meta.epochs_done},
                      {"global_step", meta.global_step},
                      {"weights_fingerprint", meta.weights_fingerprint}};
  ar.write("tdml_meta", c10::IValue(j.dump()));
  std::ostringstream os;
  ar.save_to(os);
  util::write_file_atomic(dir + "/train_state.pt", os.str());
}

CheckpointMeta load_checkpoint(const std::string& dir, models::Model& model,
                               torch::optim::Optimizer& opt) {
  const std::string weights = dir + "/checkpoint.pt";
  const std::string state = dir + "/train_state.pt";
  for (const auto& f : {weights, state}) {
    if (!std::filesystem::exists(f)) {
      throw Error("cannot resume: " + f + " is missing (was the run started with --save?)");
    }
  }
  torch::serialize::InputArchive ar;
  std::istringstream is(util::read_file(state));
  try {
    ar.load_from(is);
  } catch (const std::exception& e) {  // c10::Error, torch::jit::ErrorReport (a garbled archive)
    throw Error(state + " is not a tdml training state (" + first_line(e.what()) + ")");
  }
  const CheckpointMeta meta = read_meta(ar, state);
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
  return meta;
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
