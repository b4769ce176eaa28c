#include <gtest/gtest.h>

#include <cmath>

#include "tdml/train/optim.h"
#include "tdml/util/error.h"

using tdml::train::lr_at;
using tdml::train::ScheduleOptions;

TEST(Schedule, ConstantWithLinearWarmup) {
  ScheduleOptions s;
  s.warmup_epochs = 1;
  // 10 steps per epoch: warmup reaches the base rate at step 9, then stays.
  EXPECT_DOUBLE_EQ(lr_at(s, 0.1, 0, 100, 10), 0.01);
  EXPECT_DOUBLE_EQ(lr_at(s, 0.1, 4, 100, 10), 0.05);
  EXPECT_DOUBLE_EQ(lr_at(s, 0.1, 9, 100, 10), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(s, 0.1, 57, 100, 10), 0.1);
}

TEST(Schedule, StepDecaysEveryStepEpochs) {
  ScheduleOptions s;
  s.name = "step";
  s.step_epochs = 2;
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(lr_at(s, 0.2, 19, 100, 10), 0.2);   // epoch 1.9
  EXPECT_DOUBLE_EQ(lr_at(s, 0.2, 20, 100, 10), 0.1);   // epoch 2
  EXPECT_DOUBLE_EQ(lr_at(s, 0.2, 45, 100, 10), 0.05);  // epoch 4.5
}

TEST(Schedule, CosineGoesFromBaseToMin) {
  ScheduleOptions s;
  s.name = "cosine";
  s.min_lr = 0.001;
  EXPECT_DOUBLE_EQ(lr_at(s, 0.1, 0, 100, 10), 0.1);
  EXPECT_NEAR(lr_at(s, 0.1, 50, 100, 10), 0.001 + 0.099 * 0.5, 1e-12);
  EXPECT_NEAR(lr_at(s, 0.1, 100, 100, 10), 0.001, 1e-12);
}

TEST(Schedule, OneCycleMatchesTorchEndpoints) {
  ScheduleOptions s;
  s.name = "onecycle";
  // torch.optim.lr_scheduler.OneCycleLR(max_lr=0.1, total_steps=100): lr 0.004 at step 0,
  // 0.1 at step 29 (pct_start*total - 1), 4e-7 at step 99.
  EXPECT_NEAR(lr_at(s, 0.1, 0, 100, 10), 0.004, 1e-12);
  EXPECT_NEAR(lr_at(s, 0.1, 29, 100, 10), 0.1, 1e-12);
  EXPECT_NEAR(lr_at(s, 0.1, 99, 100, 10), 4e-7, 1e-15);
  EXPECT_GT(lr_at(s, 0.1, 60, 100, 10), 4e-7);
  EXPECT_LT(lr_at(s, 0.1, 60, 100, 10), 0.1);
}

TEST(Optimizer, SgdStepMatchesHandComputedMomentumUpdate) {
  auto w = torch::tensor({1.0f}, torch::requires_grad());
  tdml::train::OptimizerOptions o;  // lr 0.1, momentum 0.9, wd 5e-4
  auto opt = tdml::train::make_optimizer({w}, o);
  for (int i = 0; i < 2; ++i) {
    opt->zero_grad();
    (w * w).sum().backward();  // grad 2w
    opt->step();
  }
  // step 1: g = 2*1 + 5e-4*1 = 2.0005, buf = g, w = 1 - 0.20005 = 0.79995
  // step 2: g = 2*0.7999500 + 5e-4*0.79995 = 1.599899975, buf = 0.9*2.0005 + g, w -= 0.1*buf
  double w1 = 1 - 0.1 * 2.0005;
  double g2 = 2 * w1 + 5e-4 * w1;
  double w2 = w1 - 0.1 * (0.9 * 2.0005 + g2);
  EXPECT_NEAR(w.item<double>(), w2, 1e-6);
}

TEST(Optimizer, UnknownNameIsUsageError) {
  tdml::train::OptimizerOptions o;
  o.name = "lion";
  EXPECT_THROW(tdml::train::make_optimizer({torch::zeros({1}, torch::requires_grad())}, o),
               tdml::UsageError);
}
