// Pipeline steps against the arithmetic they promise: M micro-batches over S stages give the
// gradients and the weights after one step of the unsplit model on the whole batch.
#include "tdml/pipeline/pipeline_step.h"

#include <gtest/gtest.h>

#include <atomic>

#include "tdml/train/optim.h"
#include "tdml/util/error.h"

namespace tdml::pipeline {
namespace {

// A model with its optimizer, as run_training would set them up.
struct Replica {
  std::shared_ptr<models::Model> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  train::GradScaler scaler{false, torch::kCPU};
  train::StepSetup setup() {
    return {*model, *optimizer, torch::kCPU, train::AmpMode::kOff, scaler};
  }
};

Replica make_replica(const std::string& name, bool eval_mode = false) {
  torch::manual_seed(11);
  Replica r;
  r.model = models::make_model(name);
  if (eval_mode) r.model->eval();
  r.optimizer = train::make_optimizer(r.model->parameters(), train::OptimizerOptions{});
  return r;
}

data::Batch make_batch(std::int64_t n, std::uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({n, 3, 32, 32}), torch::randint(0, 10, {n}, torch::kLong), torch::arange(n)};
}

std::vector<torch::Tensor> grads_of(models::Model& m) {
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad().clone());
  return g;
}

void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(a[i].defined() && b[i].defined()) << what << " tensor " << i;
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-4, 1e-6))
        << what << " tensor " << i << " max diff " << (a[i] - b[i]).abs().max().item<double>();
  }
}

std::vector<torch::Tensor> params_of(models::Model& m) {
  std::vector<torch::Tensor> p;
  for (auto& t : m.parameters()) p.push_back(t.detach().clone());
  return p;
}

struct Reference {
  std::vector<torch::Tensor> grads, weights;
  double loss = 0;
};

// One plain step of the unsplit model on the whole batch.
Reference reference_step(const std::string& name, const data::Batch& batch, bool eval_mode) {
  auto r = make_replica(name, eval_mode);
  train::PlainStep plain(r.setup());
  train::EpochTotals totals;
  plain.step(batch, totals);
  return {grads_of(*r.model), params_of(*r.model), totals.loss_sum.item<double>() / 1.0};
}

}  // namespace

TEST(PipelineStep, MicroBatchSizesAreEvenAndCoverTheBatch) {
  EXPECT_EQ(micro_batch_sizes(10, 4), (std::vector<std::int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(micro_batch_sizes(8, 4), (std::vector<std::int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(micro_batch_sizes(3, 8), (std::vector<std::int64_t>{1, 1, 1}));
}

TEST(PipelineStep, SingleDeviceMatchesTheUnsplitModelForBothSchedules) {
  struct Case {
    const char* model;
    bool eval_mode;  // BatchNorm in eval mode uses running statistics: micro-batching is exact
    int stages, micro;
    std::int64_t batch;
  } cases[] = {{"tinycnn", false, 2, 4, 16},
               {"tinycnn", false, 3, 4, 10},  // uneven micro-batches (3, 3, 2, 2)
               {"smallcifarcnn", true, 2, 4, 12},
               {"smallcifarcnn", true, 4, 8, 16}};
  for (const auto& c : cases) {
    auto batch = make_batch(c.batch, 3);
    auto want = reference_step(c.model, batch, c.eval_mode);
    for (auto kind : {ScheduleKind::kGPipe, ScheduleKind::kOneFOneB}) {
      const std::string what = std::string(c.model) + " S=" + std::to_string(c.stages) +
                               " M=" + std::to_string(c.micro) + " " + schedule_name(kind);
      auto r = make_replica(c.model, c.eval_mode);
      PipelineOptions o;
      o.stages = c.stages;
      o.micro_batches = c.micro;
      o.schedule = kind;
      o.split.method = SplitMethod::kParams;
      LocalPipelineStep step(r.setup(), o);
      train::EpochTotals totals;
      step.step(batch, totals);
      expect_close(grads_of(*r.model), want.grads, what + " gradients");
      expect_close(params_of(*r.model), want.weights, what + " weights after the step");
      EXPECT_NEAR(totals.loss_sum.item<double>(), want.loss, 1e-4 * want.loss) << what;
      EXPECT_EQ(totals.samples, c.batch);
    }
  }
}

TEST(PipelineStep, OneFOneBBoundsActivationsInFlightGPipeHoldsThemAll) {
  auto batch = make_batch(16, 5);
  for (auto kind : {ScheduleKind::kGPipe, ScheduleKind::kOneFOneB}) {
    auto r = make_replica("tinycnn");
    PipelineOptions o;
    o.stages = 3;
    o.micro_batches = 8;
    o.schedule = kind;
    LocalPipelineStep step(r.setup(), o);
    train::EpochTotals totals;
    step.step(batch, totals);
    auto stats = step.epoch_stats();
    ASSERT_EQ(stats["stages"].size(), 3u);
    for (int s = 0; s < 3; ++s) {
      const int in_flight = stats["stages"][s]["max_in_flight"];
      EXPECT_EQ(in_flight, kind == ScheduleKind::kGPipe ? 8 : 3 - s) << schedule_name(kind);
      EXPECT_GT(stats["stages"][s]["peak_activation_bytes"].get<std::int64_t>(), 0);
    }
    // Stage 0 holds its input and its blocks' outputs for each micro-batch in flight.
    const auto per_micro = step.executors()[0].stats().peak_activation_bytes /
                           step.executors()[0].stats().max_in_flight;
    EXPECT_GE(per_micro, 2 * 3 * 32 * 32 * 4);
  }
}

TEST(PipelineStep, BatchNormUpdatesRunningStatisticsOncePerMicroBatch) {
  auto r = make_replica("smallcifarcnn");
  PipelineOptions o;
  o.micro_batches = 4;
  LocalPipelineStep step(r.setup(), o);
  train::EpochTotals totals;
  step.step(make_batch(16, 9), totals);
  int checked = 0;
  for (const auto& item : r.model->named_buffers()) {
    if (item.key().find("num_batches_tracked") == std::string::npos) continue;
    EXPECT_EQ(item.value().item<std::int64_t>(), 4) << item.key();
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(PipelineStep, MultiProcessStagesMatchTheUnsplitModelForBothSchedules) {
  const int S = 3;
  auto batch = make_batch(12, 4);
  auto want = reference_step("tinycnn", batch, false);
  for (auto kind : {ScheduleKind::kGPipe, ScheduleKind::kOneFOneB}) {
    std::vector<Replica> reps;
    for (int r = 0; r < S; ++r) reps.push_back(make_replica("tinycnn"));
    std::vector<nlohmann::json> stats(S);
    std::vector<double> loss(S, 0.0);
    std::vector<std::vector<torch::Tensor>> grads(S);
    nlohmann::json extras;
    dist::run_local_ranks(S, [&](dist::Comm& comm) {
      const int r = comm.rank();
      PipelineOptions o;
      o.stages = S;
      o.micro_batches = 6;
      o.schedule = kind;
      // The default split (auto = time here) calibrates on two trial steps in the constructor,
      // then restores weights, buffers and optimizer state: the step below is still the
      // reference's first step from the same initial weights.
      DistributedPipelineStep step(reps[r].setup(), o, comm.shared_from_this());
      if (r == 0) extras = step.document_extras();
      step.start_epoch();
      train::EpochTotals totals;
      step.step(batch, totals);
      for (auto& p : step.executor().stage().parameters()) grads[r].push_back(p.grad().clone());
      if (totals.loss_sum.defined()) loss[r] = totals.loss_sum.item<double>();
      step.end_epoch();  // every rank now holds every stage's weights
      stats[r] = step.epoch_stats();
    });
    const std::string what = schedule_name(kind);
    // Gradients of each stage on its rank, in model parameter order.
    std::vector<torch::Tensor> got;
    for (auto& g : grads) got.insert(got.end(), g.begin(), g.end());
    expect_close(got, want.grads, what + " gradients");
    for (int r = 0; r < S; ++r)
      expect_close(params_of(*reps[r].model), want.weights, what + " weights");
    EXPECT_NEAR(loss[S - 1], want.loss, 1e-4 * want.loss);
    EXPECT_EQ(loss[0], 0.0);  // only the last stage sees the loss
    for (int s = 0; s < S; ++s) {
      const int in_flight = stats[0]["stages"][s]["max_in_flight"];
      EXPECT_EQ(in_flight, kind == ScheduleKind::kGPipe ? 6 : S - s) << what;
      EXPECT_GE(stats[0]["stages"][s]["idle_fraction"].get<double>(), 0.0);
    }
    EXPECT_TRUE(stats[0]["measured_bubble"].is_number());
    EXPECT_EQ(extras["pipeline"]["split_method"], "time") << what;
    EXPECT_EQ(extras["pipeline"]["split_calibration"]["stage_factors"].size(), std::size_t(S));
    EXPECT_EQ(extras["pipeline"]["split_calibration"]["trial_busy_s"].size(), std::size_t(S));
  }
}

namespace {

// Two linear blocks; the second throws once `fail_after` more forwards have run.
class Exploding : public models::Model {
 public:
  Exploding() : Model("exploding") {
    fc1_ = register_module("fc1", torch::nn::Linear(3 * 32 * 32, 8));
    fc2_ = register_module("fc2", torch::nn::Linear(8, 10));
  }
  torch::Tensor forward(torch::Tensor x) override { return fc2_(fc1_(x.flatten(1))); }
  std::vector<models::Block> blocks() override {
    models::Block a{"fc1",
                    [this](torch::Tensor x) { return fc1_(x.flatten(1)); },
                    {fc1_->weight, fc1_->bias},
                    {}};
    models::Block b{"fc2",
                    [this](torch::Tensor x) {
                      if (fail_after == 0) throw Error("injected failure in the second block");
                      if (fail_after > 0) --fail_after;
                      return fc2_(x);
                    },
                    {fc2_->weight, fc2_->bias},
                    {}};
    return {a, b};
  }
  std::atomic<int> fail_after{-1};

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

}  // namespace

TEST(PipelineStep, AFailingStageEndsEveryRankWithAnErrorInsteadOfHanging) {
  const int S = 2;
  std::vector<std::shared_ptr<Exploding>> models;
  std::vector<std::unique_ptr<torch::optim::Optimizer>> opts;
  std::vector<std::unique_ptr<train::GradScaler>> scalers;
  for (int r = 0; r < S; ++r) {
    torch::manual_seed(1);
    models.push_back(std::make_shared<Exploding>());
    opts.push_back(train::make_optimizer(models[r]->parameters(), train::OptimizerOptions{}));
    scalers.push_back(std::make_unique<train::GradScaler>(false, torch::kCPU));
  }
  auto batch = make_batch(8, 2);
  std::vector<std::string> errors(S);
  auto started = std::chrono::steady_clock::now();
  dist::run_local_ranks(
      S,
      [&](dist::Comm& comm) {
        const int r = comm.rank();
        PipelineOptions o;
        o.stages = S;
        o.micro_batches = 4;
        train::StepSetup setup{*models[r], *opts[r], torch::kCPU, train::AmpMode::kOff,
                               *scalers[r]};
        DistributedPipelineStep step(setup, o, comm.shared_from_this());
        models[r]->fail_after = 1;  // stage 1 fails on its second micro-batch
        try {
          train::EpochTotals totals;
          step.step(batch, totals);
        } catch (const std::exception& e) {
          errors[r] = e.what();
        }
      },
      std::chrono::seconds(2));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_NE(errors[1].find("injected failure"), std::string::npos) << errors[1];
  EXPECT_NE(errors[0].find("pipeline stage 0: waiting for the gradient of micro-batch 0 from "
                           "stage 1"),
            std::string::npos)
      << errors[0];
  EXPECT_LT(seconds, 15.0);
}

}  // namespace tdml::pipeline
