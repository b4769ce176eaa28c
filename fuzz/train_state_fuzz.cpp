// Fuzz target: the training state of a checkpoint (train/checkpoint.h load_checkpoint: DIR/
// train_state.pt, a file of tensors (models::save_tensors: the optimizer's state, the other state
// tensors and tdml's progress record as UTF-8 bytes), read on resume). A checkpoint of a small
// model (linear4.h, so that seeds stay small) is written once with the real writer
// (save_checkpoint); the input replaces its train_state.pt, then the run is resumed into the same
// model and optimizer. The zip's CRC-32 stops most mutations of what is inside: the seeds (valid
// files lacking or garbling the progress record, of another optimizer, another model, with a
// moment of another shape or dtype) and their replay matter more here than the mutations.
//
// TDML_FUZZ_WRITE_SEEDS=DIR writes those seeds into DIR with the real writer (how
// fuzz/corpus/train_state/ was made).
//
// Properties: load_checkpoint returns or throws tdml::Error.
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "linear4.h"
#include "tdml/models/state_dict.h"
#include "tdml/train/checkpoint.h"
#include "tdml/train/optim.h"

namespace {

struct Run {
  std::string dir;
  std::shared_ptr<tdml::fuzz::Linear4> model;
  std::unique_ptr<torch::optim::Optimizer> opt;
};

// One step of `optimizer` (SGD with momentum: momentum buffers; AdamW: moments and a step count)
// saved into a new scratch folder `name`.
Run make_run(const std::string& name, const std::string& optimizer = "sgd") {
  Run r;
  r.dir = tdml::fuzz::scratch_subdir(name);
  torch::manual_seed(0);
  r.model = std::make_shared<tdml::fuzz::Linear4>();
  tdml::train::OptimizerOptions o;
  o.name = optimizer;
  r.opt = tdml::train::make_optimizer(r.model->parameters(), o);
  r.model->forward(torch::ones({1, 4})).sum().backward();
  r.opt->step();
  tdml::train::CheckpointMeta meta;
  meta.model = r.model->name();
  meta.epochs_done = 1;
  meta.global_step = 1;
  meta.weights_fingerprint = tdml::train::weights_fingerprint(*r.model);
  tdml::train::save_checkpoint(r.dir, *r.model, *r.opt, meta, {{"rng", torch::arange(5, torch::kUInt8)}});
  return r;
}

torch::Tensor text_tensor(const std::string& text) {
  return torch::tensor(std::vector<std::uint8_t>(text.begin(), text.end()), torch::kUInt8);
}

// The valid file's tensors with `edit` applied, saved as DIR/NAME.
void write_variant(const std::string& dir, const std::string& name,
                   const tdml::models::StateDict& valid,
                   const std::function<void(tdml::models::StateDict&, nlohmann::json&)>& edit) {
  auto tensors = valid;
  auto& meta = tensors.back().second;
  auto record = nlohmann::json::parse(std::string(static_cast<const char*>(meta.data_ptr()),
                                                  static_cast<std::size_t>(meta.numel())));
  tensors.pop_back();
  edit(tensors, record);
  if (!record.is_null()) tensors.emplace_back("tdml_meta", text_tensor(record.dump()));
  tdml::models::save_tensors(dir + "/" + name, tensors);
}

void write_seeds(const std::string& dir, const Run& run) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  fs::copy_file(run.dir + "/train_state.pt", dir + "/valid.pt", fs::copy_options::overwrite_existing);
  fs::copy_file(run.dir + "/checkpoint.pt", dir + "/weights_file_instead.pt",
                fs::copy_options::overwrite_existing);
  std::ofstream(dir + "/not_a_zip.pt") << "PK\x03\x04 not a zip";
  const auto valid = tdml::models::load_tensors(run.dir + "/train_state.pt");
  // AdamW's state (moments, step counts) for this run's weights: another optimizer's.
  const auto adamw = tdml::models::load_tensors(make_run("adamw", "adamw").dir + "/train_state.pt");
  write_variant(dir, "adamw_state.pt", adamw, [&](auto&, auto& r) {
    r["weights_fingerprint"] = tdml::train::weights_fingerprint(*run.model);
  });
  using Edit = std::function<void(tdml::models::StateDict&, nlohmann::json&)>;
  const std::vector<std::pair<std::string, Edit>> variants = {
      {"no_meta.pt", [](auto&, auto& r) { r = nullptr; }},
      {"meta_not_json.pt", [](auto& t, auto& r) {
         r = nullptr;
         t.emplace_back("tdml_meta", text_tensor("{\"model\": \"linear4\", "));
       }},
      {"meta_not_bytes.pt", [](auto& t, auto& r) {
         r = nullptr;
         t.emplace_back("tdml_meta", torch::tensor({1, 2, 3}, torch::kInt64));
       }},
      {"meta_missing_fields.pt", [](auto&, auto& r) { r.erase("global_step"); }},
      {"meta_wrong_types.pt", [](auto&, auto& r) { r["epochs_done"] = "one"; }},
      {"no_optimizer_state.pt", [](auto&, auto& r) { r.erase("optimizer"); }},
      {"optimizer_groups_garbled.pt", [](auto&, auto& r) { r["optimizer"]["groups"] = "x"; }},
      {"optimizer_params_negative.pt",
       [](auto&, auto& r) { r["optimizer"]["groups"][0]["params"] = -1; }},
      {"other_model.pt", [](auto&, auto& r) { r["model"] = "resnet50"; }},
      {"momentum_wrong_shape.pt", [](auto& t, auto&) { t[0].second = torch::zeros({4, 2}); }},
      {"momentum_wrong_dtype.pt",
       [](auto& t, auto&) { t[0].second = t[0].second.to(torch::kDouble); }},
      {"state_tensor_missing.pt", [](auto&, auto& r) { r["state_tensors"].push_back("gone"); }},
  };
  for (const auto& [name, edit] : variants) write_variant(dir, name, valid, edit);
}

}  // namespace

TDML_FUZZ_TARGET(train_state) {
  static Run run = [] {
    auto r = make_run("run");
    if (const char* seeds = std::getenv("TDML_FUZZ_WRITE_SEEDS")) write_seeds(seeds, r);
    return r;
  }();
  tdml::fuzz::write_bytes(run.dir + "/train_state.pt", data, size);
  tdml::train::StateTensors state;
  tdml::fuzz::accepts(
      [&] { tdml::train::load_checkpoint(run.dir, *run.model, *run.opt, &state); });
  return 0;
}
