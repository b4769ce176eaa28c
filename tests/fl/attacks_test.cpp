#include "tdml/fl/attacks.h"

#include <gtest/gtest.h>

#include "tdml/util/error.h"

using namespace tdml::fl;

TEST(FlAttacks, UpdateAttacksOnAKnownUpdate) {
  auto g = torch::tensor({1.0f, -2.0f, 0.5f, 3.0f});
  AttackOptions o;  // shift 5, sigma 10, boost 10
  EXPECT_TRUE(torch::equal(apply_update_attack(UpdateAttack::kNone, g, o, 0), g));
  EXPECT_TRUE(torch::equal(apply_update_attack(UpdateAttack::kZero, g, o, 0), torch::zeros(4)));
  EXPECT_TRUE(torch::allclose(apply_update_attack(UpdateAttack::kMeanShift, g, o, 0),
                              torch::tensor({6.0f, 3.0f, 5.5f, 8.0f})));
  EXPECT_TRUE(torch::equal(apply_update_attack(UpdateAttack::kSignFlip, g, o, 0), -g));
  EXPECT_TRUE(
      torch::allclose(apply_update_attack(UpdateAttack::kModelReplacement, g, o, 0), g * 10));
  // The honest update is not touched.
  EXPECT_TRUE(torch::equal(g, torch::tensor({1.0f, -2.0f, 0.5f, 3.0f})));
}

TEST(FlAttacks, GaussianIsSeededNoiseOfSigma) {
  auto g = torch::ones({200000});
  AttackOptions o;
  auto a = apply_update_attack(UpdateAttack::kGaussian, g, o, 42);
  auto b = apply_update_attack(UpdateAttack::kGaussian, g, o, 42);
  auto c = apply_update_attack(UpdateAttack::kGaussian, g, o, 43);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_NEAR(a.mean().item<double>(), 0.0, 0.1);  // not honest + noise: the noise alone
  EXPECT_NEAR(a.std().item<double>(), 10.0, 0.1);
}

TEST(FlAttacks, ParseMixAndPlanCyclesOverMaliciousClients) {
  auto mix = parse_attack_mix("backdoor,zero,mean-shift,gaussian");
  ASSERT_EQ(mix.size(), 4u);
  EXPECT_EQ(mix[0].data, DataAttack::kBackdoor);
  EXPECT_EQ(mix[3].update, UpdateAttack::kGaussian);
  auto combo = parse_client_attack("backdoor+model-replacement");
  EXPECT_EQ(combo.data, DataAttack::kBackdoor);
  EXPECT_EQ(combo.update, UpdateAttack::kModelReplacement);
  EXPECT_EQ(combo.to_string(), "backdoor+model-replacement");
  EXPECT_THROW(parse_client_attack("zero+gaussian"), tdml::UsageError);
  try {
    parse_attack_mix("zero,bogus");
    FAIL();
  } catch (const tdml::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bogus"), std::string::npos);
  }

  // The study: int(6 * 0.33) = 1 malicious client, client 0, running the backdoor.
  EXPECT_EQ(malicious_count(6, 0.33), 1);
  AttackPlan study(6, malicious_count(6, 0.33), mix);
  EXPECT_EQ(study.malicious_clients(), std::vector<int>{0});
  EXPECT_EQ(study.of(0).data, DataAttack::kBackdoor);
  EXPECT_TRUE(study.any_backdoor());

  AttackPlan five(10, 5, mix);
  EXPECT_EQ(five.malicious_clients(), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(five.of(1).update, UpdateAttack::kZero);
  EXPECT_EQ(five.of(4).data, DataAttack::kBackdoor);  // 4 % 4 = 0
  EXPECT_FALSE(five.is_malicious(5));
  auto g = torch::ones({3});
  EXPECT_TRUE(torch::equal(five.apply_update(5, 0, g), g));
  EXPECT_TRUE(torch::equal(five.apply_update(1, 0, g), torch::zeros({3})));
  // Gaussian noise differs between rounds but is reproducible.
  EXPECT_FALSE(torch::equal(five.apply_update(3, 0, g), five.apply_update(3, 1, g)));
  EXPECT_TRUE(torch::equal(five.apply_update(3, 1, g), five.apply_update(3, 1, g)));
  EXPECT_THROW(AttackPlan(4, 5, mix), tdml::UsageError);
}

TEST(FlAttacks, BackdoorStampsBottomRightAndRelabels) {
  AttackOptions o;  // 4x4, value 2.5, target 0
  auto images = torch::zeros({3, 3, 32, 32});
  auto labels = torch::tensor({5, 7, 2}, torch::kInt64);
  auto mask = torch::tensor({true, false, true});
  auto pb = poison_batch(images, labels, mask, o);
  EXPECT_TRUE(torch::equal(pb.labels, torch::tensor({0, 7, 0}, torch::kInt64)));
  // Row 0: exactly 3 * 16 values of 2.5, at rows/cols 28..31.
  EXPECT_EQ((pb.images[0] == 2.5).sum().item<int64_t>(), 48);
  EXPECT_TRUE((pb.images[0].slice(1, 28, 32).slice(2, 28, 32) == 2.5).all().item<bool>());
  EXPECT_EQ(pb.images[0][0][27][31].item<float>(), 0.0f);
  EXPECT_EQ(pb.images[1].abs().sum().item<float>(), 0.0f);  // unpoisoned row untouched
  EXPECT_EQ(images.abs().sum().item<float>(), 0.0f);        // input untouched
  o.trigger_size = 33;
  EXPECT_THROW(stamp_trigger(images, o), tdml::UsageError);
}

TEST(FlAttacks, PoisonedMaskHasExactRateAndIsFixed) {
  auto m = choose_poisoned(6000, 0.2, 9);
  EXPECT_EQ(m.sum().item<int64_t>(), 1200);
  EXPECT_TRUE(torch::equal(m, choose_poisoned(6000, 0.2, 9)));
  AttackPlan plan(6, 1, parse_attack_mix("backdoor"), {}, 3);
  EXPECT_EQ(plan.poisoned_mask(0, 100).sum().item<int64_t>(), 20);
  EXPECT_EQ(plan.poisoned_mask(1, 100).sum().item<int64_t>(), 0);
}

TEST(FlAttacks, LabelFlip) {
  auto labels = torch::tensor({0, 3, 5, 9, 3}, torch::kInt64);
  AttackOptions o;
  EXPECT_TRUE(torch::equal(flip_labels(labels, o), torch::tensor({9, 6, 4, 0, 6}, torch::kInt64)));
  o.flip_from = 3;
  o.flip_to = 5;
  EXPECT_TRUE(torch::equal(flip_labels(labels, o), torch::tensor({0, 5, 5, 9, 5}, torch::kInt64)));
  AttackPlan plan(2, 1, parse_attack_mix("label-flip"), o);
  EXPECT_TRUE(torch::equal(plan.training_labels(1, labels), labels));
  EXPECT_TRUE(torch::equal(plan.training_labels(0, labels), flip_labels(labels, o)));
}

TEST(FlAttacks, TriggeredTestSetAndSuccessRate) {
  AttackOptions o;
  auto images = torch::zeros({5, 3, 8, 8});
  auto labels = torch::tensor({0, 1, 0, 2, 3}, torch::kInt64);
  auto t = make_triggered_test_set(images, labels, o, /*non_target_only=*/true);
  EXPECT_TRUE(torch::equal(t.rows, torch::tensor({1, 3, 4}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(t.labels, torch::tensor({1, 2, 3}, torch::kInt64)));
  EXPECT_TRUE((t.images.slice(2, 4, 8).slice(3, 4, 8) == 2.5).all().item<bool>());
  auto all = make_triggered_test_set(images, labels, o, /*non_target_only=*/false);
  EXPECT_EQ(all.rows.numel(), 5);
  EXPECT_DOUBLE_EQ(attack_success_rate(torch::tensor({0, 2, 0, 0}, torch::kInt64), 0), 0.75);
  EXPECT_DOUBLE_EQ(attack_success_rate(torch::empty({0}, torch::kInt64), 0), 0.0);
}
