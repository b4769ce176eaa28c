#include "tdml/train/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "tdml/train/optim.h"
#include "tdml/util/error.h"

namespace {

using tdml::train::CheckpointMeta;

// A model small enough to make a checkpoint in milliseconds.
class Linear4 : public tdml::models::Model {
 public:
  Linear4() : Model("linear4") { fc_ = register_module("fc", torch::nn::Linear(4, 2)); }
  torch::Tensor forward(torch::Tensor x) override { return fc_(x); }
  std::vector<tdml::models::Block> blocks() override {
    return {{"fc", [this](torch::Tensor x) { return fc_(x); }, {fc_->weight, fc_->bias}, {}}};
  }

 private:
  torch::nn::Linear fc_{nullptr};
};

tdml::train::OptimizerOptions sgd() { return {}; }
tdml::train::OptimizerOptions adamw() {
  tdml::train::OptimizerOptions o;
  o.name = "adamw";
  return o;
}

// Replaces DIR/train_state.pt by an archive holding what `fill` writes.
void write_state(const std::string& dir,
                 const std::function<void(torch::serialize::OutputArchive&)>& fill) {
  torch::serialize::OutputArchive ar;
  fill(ar);
  std::ostringstream os;
  ar.save_to(os);
  std::ofstream(dir + "/train_state.pt", std::ios::binary) << os.str();
}

}  // namespace

// Found by fuzz/train_state_fuzz (fuzz/corpus/train_state/): a train_state.pt without the
// progress record, with a garbled one, or with another optimizer's state let LibTorch's and
// nlohmann's exceptions escape instead of one tdml::Error naming the file.
TEST(Checkpoint, ResumingFromAForeignOrGarbledTrainStateIsOneClearError) {
  tdml::test::TempDir dir;
  Linear4 model;
  auto opt = tdml::train::make_optimizer(model.parameters(), sgd());
  model.forward(torch::ones({1, 4})).sum().backward();
  opt->step();
  CheckpointMeta meta{"linear4", 1, 1, tdml::train::weights_fingerprint(model)};
  tdml::train::save_checkpoint(dir.path(), model, *opt, meta);
  EXPECT_EQ(tdml::train::load_checkpoint(dir.path(), model, *opt).global_step, 1);

  const nlohmann::json good = {{"model", "linear4"},
                               {"epochs_done", 1},
                               {"global_step", 1},
                               {"weights_fingerprint", meta.weights_fingerprint}};
  auto adam = tdml::train::make_optimizer(model.parameters(), adamw());
  const std::vector<std::pair<std::function<void(torch::serialize::OutputArchive&)>, std::string>>
      cases = {
          {[&](auto& ar) { opt->save(ar); }, "holds no tdml progress record"},
          {[&](auto& ar) { ar.write("tdml_meta", c10::IValue(std::int64_t{5})); },
           "holds no tdml progress record"},
          {[&](auto& ar) { ar.write("tdml_meta", c10::IValue(std::string("{not json"))); },
           "malformed tdml progress record"},
          {[&](auto& ar) { ar.write("tdml_meta", c10::IValue(std::string("{\"model\":1}"))); },
           "malformed tdml progress record"},
          {[&](auto& ar) {
             adam->save(ar);
             ar.write("tdml_meta", c10::IValue(good.dump()));
           },
           "does not hold this run's optimizer state"},
      };
  for (const auto& [fill, expect] : cases) {
    write_state(dir.path(), fill);
    try {
      tdml::train::load_checkpoint(dir.path(), model, *opt);
      ADD_FAILURE() << "no error; expected: " << expect;
    } catch (const tdml::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(expect), std::string::npos) << msg;
      EXPECT_NE(msg.find(dir / "train_state.pt"), std::string::npos) << msg;
    }
  }
}
