#include "tdml/train/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "tdml/models/state_dict.h"
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

// Replaces DIR/train_state.pt by a file of these tensors.
void write_state(const std::string& dir, const tdml::models::StateDict& tensors) {
  tdml::models::save_tensors(dir + "/train_state.pt", tensors);
}

torch::Tensor text_tensor(const std::string& text) {
  return torch::tensor(std::vector<std::uint8_t>(text.begin(), text.end()), torch::kUInt8);
}

}  // namespace

// A train_state.pt without the progress record, with a garbled one, with another optimizer's
// state, with a moment of another shape, or that is no file of tensors at all: one tdml::Error
// naming the file (found by fuzz/train_state_fuzz when the file was a TorchScript archive).
TEST(Checkpoint, ResumingFromAForeignOrGarbledTrainStateIsOneClearError) {
  tdml::test::TempDir dir;
  Linear4 model;
  auto opt = tdml::train::make_optimizer(model.parameters(), sgd());
  model.forward(torch::ones({1, 4})).sum().backward();
  opt->step();
  CheckpointMeta meta{"linear4", 1, 1, tdml::train::weights_fingerprint(model)};
  tdml::train::save_checkpoint(dir.path(), model, *opt, meta);
  EXPECT_EQ(tdml::train::load_checkpoint(dir.path(), model, *opt).global_step, 1);
  const auto saved = tdml::models::load_tensors(dir / "train_state.pt");

  nlohmann::json good = {{"model", "linear4"},
                         {"epochs_done", 1},
                         {"global_step", 1},
                         {"weights_fingerprint", meta.weights_fingerprint}};
  auto adamw_record = good;
  adamw_record["optimizer"] = {{"kind", "adamw"}, {"groups", nlohmann::json::array()}};
  ASSERT_EQ(saved.back().first, "tdml_meta");
  const auto record = saved.back().second.contiguous();
  const auto sgd_record = nlohmann::json::parse(
      std::string(static_cast<const char*>(record.data_ptr()), record.numel()));
  ASSERT_TRUE(sgd_record.contains("optimizer")) << sgd_record.dump();
  const auto weight = torch::zeros({2, 4});
  const std::vector<std::pair<tdml::models::StateDict, std::string>> cases = {
      {{{"w", weight}}, "holds no tdml progress record"},
      {{{"tdml_meta", torch::tensor({5}, torch::kInt64)}}, "holds no tdml progress record"},
      {{{"tdml_meta", text_tensor("{not json")}}, "malformed tdml progress record"},
      {{{"tdml_meta", text_tensor("{\"model\":1}")}}, "malformed tdml progress record"},
      {{{"tdml_meta", text_tensor(good.dump())}}, "holds no optimizer state"},
      {{{"tdml_meta", text_tensor(adamw_record.dump())}}, "another optimizer's state"},
      {{{"optim.0.0.momentum_buffer", torch::zeros({4, 2})},
        {"tdml_meta", text_tensor(sgd_record.dump())}},
       "holds optimizer state 'optim.0.0.momentum_buffer' of Float [4, 2]"},
      {{{"optim.0.0.momentum_buffer", torch::zeros({2, 4}, torch::kDouble)},
        {"tdml_meta", text_tensor(sgd_record.dump())}},
       "holds optimizer state 'optim.0.0.momentum_buffer' of Double"},
  };
  for (const auto& [tensors, expect] : cases) {
    write_state(dir.path(), tensors);
    try {
      tdml::train::load_checkpoint(dir.path(), model, *opt);
      ADD_FAILURE() << "no error; expected: " << expect;
    } catch (const tdml::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(expect), std::string::npos) << msg;
      EXPECT_NE(msg.find(dir / "train_state.pt"), std::string::npos) << msg;
    }
  }
  std::ofstream(dir / "train_state.pt", std::ios::binary) << "not a zip";
  EXPECT_THROW(tdml::train::load_checkpoint(dir.path(), model, *opt), tdml::Error);
}

// SGD's momentum and AdamW's moments and step count come back exactly, with the group's
// options, in train_state.pt as Python's torch.load reads it (a plain dict of tensors).
TEST(Checkpoint, OptimizerStateComesBackExactly) {
  tdml::test::TempDir dir;
  for (const auto& o : {sgd(), adamw()}) {
    Linear4 model;
    auto opt = tdml::train::make_optimizer(model.parameters(), o);
    for (int i = 0; i < 3; ++i) {
      opt->zero_grad();
      model.forward(torch::ones({1, 4}) * i).pow(2).sum().backward();
      opt->step();
    }
    tdml::train::set_lr(*opt, 0.0123);
    CheckpointMeta meta{"linear4", 0, 3, tdml::train::weights_fingerprint(model)};
    tdml::train::save_checkpoint(dir.path(), model, *opt, meta);
    Linear4 copy;
    auto restored = tdml::train::make_optimizer(copy.parameters(), o);
    tdml::train::load_checkpoint(dir.path(), copy, *restored);
    EXPECT_EQ(restored->param_groups()[0].options().get_lr(), 0.0123);
    // One more step on both: the same weights, bit for bit, only if every moment came back.
    for (auto* m : {&model, &copy}) {
      auto& op = m == &model ? *opt : *restored;
      op.zero_grad();
      m->forward(torch::ones({1, 4})).pow(2).sum().backward();
      op.step();
    }
    const auto a = tdml::models::state_dict(model), b = tdml::models::state_dict(copy);
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << o.name << " " << a[i].first;
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
