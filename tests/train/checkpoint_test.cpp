#include "tdml/train/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
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

// Step checkpoints: state tensors come back bit for bit, per-rank files stay apart, a published
// step replaces its partial folder, only the two newest are kept, and resume_candidates orders
// step and epoch checkpoints by their step (the unreadable last).
TEST(Checkpoint, StepCheckpointsArePublishedPrunedAndOrderedByStep) {
  namespace fs = std::filesystem;
  tdml::test::TempDir run;
  Linear4 model;
  auto opt = tdml::train::make_optimizer(model.parameters(), sgd());
  const tdml::train::StateTensors extra = {{"rng_cpu", torch::arange(7, torch::kUInt8)},
                                           {"epoch_loss_sum", torch::tensor({1.25f})}};
  for (std::int64_t step : {3, 6, 9}) {
    CheckpointMeta meta{"linear4", 0, step, tdml::train::weights_fingerprint(model)};
    meta.epoch_batches = step;
    for (int rank : {0, 1}) {
      tdml::train::save_checkpoint(tdml::train::partial_step_dir(run.path(), step), model, *opt,
                                   meta, extra, rank);
    }
    tdml::train::publish_step_checkpoint(run.path(), step);
  }
  fs::create_directories(run / "checkpoints/.partial-12");  // a save a crash interrupted
  EXPECT_FALSE(fs::exists(run / "checkpoints/step-3"));
  EXPECT_TRUE(fs::exists(run / "checkpoints/step-9/train_state.rank-1.pt"));
  tdml::train::StateTensors back;
  auto meta = tdml::train::load_checkpoint(run / "checkpoints/step-9", model, *opt, &back, 1);
  EXPECT_EQ(meta.global_step, 9);
  EXPECT_EQ(meta.epoch_batches, 9);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(torch::equal(back["rng_cpu"], extra.at("rng_cpu")));
  EXPECT_TRUE(torch::equal(back["epoch_loss_sum"], extra.at("epoch_loss_sum")));

  CheckpointMeta epoch_meta{"linear4", 1, 7, tdml::train::weights_fingerprint(model)};
  tdml::train::save_checkpoint(run.path(), model, *opt, epoch_meta);
  using V = std::vector<std::string>;
  EXPECT_EQ(tdml::train::resume_candidates(run.path(), 0, true),
            (V{run / "checkpoints/step-9", run.path(), run / "checkpoints/step-6"}));
  EXPECT_EQ(tdml::train::resume_candidates(run.path(), 1, true),
            (V{run / "checkpoints/step-9", run / "checkpoints/step-6"}));
  EXPECT_EQ(tdml::train::resume_candidates(run.path(), 0, false),
            (V{run / "checkpoints/step-9", run / "checkpoints/step-6"}));
  std::ofstream(run / "train_state.pt") << "garbage";
  EXPECT_EQ(tdml::train::resume_candidates(run.path(), 0, true).back(), run.path());
  tdml::test::TempDir empty;
  EXPECT_TRUE(tdml::train::resume_candidates(empty.path(), 0, true).empty());
}
