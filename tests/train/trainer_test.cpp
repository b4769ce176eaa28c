#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tdml/ledger/train_ledger.h"
#include "tdml/models/state_dict.h"
#include "tdml/train/trainer.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace {

tdml::train::TrainOptions quick_options(const std::string& out) {
  tdml::train::TrainOptions o;
  o.model = "tinycnn";
  o.data = "synthetic";
  o.epochs = 2;
  // Small and quick: 12 steps of 32 images an epoch and 2 x 128 test images (the resume tests
  // name steps and batches of these 12).
  o.batch_size = 32;
  o.eval_batch_size = 128;
  o.optim.name = "adamw";
  o.optim.lr = 2e-3;
  o.optim.weight_decay = 1e-4;
  o.augment = true;
  o.limit_train_batches = 12;
  o.limit_test_batches = 2;
  o.threads = 2;
  o.device = "cpu";  // bit-exact resume holds on CPU; cuDNN kernels are not deterministic
  o.seed = 7;
  o.out_dir = out;
  return o;
}

void expect_same_weights(const std::string& a, const std::string& b) {
  auto sa = tdml::models::load_tensors(a);
  auto sb = tdml::models::load_tensors(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  }
}

}  // namespace

TEST(Trainer, ShortRunOnSyntheticDataBeatsChanceAndWritesMetrics) {
  tdml::test::TempDir dir;
  auto o = quick_options(dir.path());
  o.epochs = 3;
  o.batch_size = 64;
  o.limit_train_batches = 8;
  o.limit_test_batches = 0;  // the whole test split
  auto r = tdml::train::run_training(o);
  EXPECT_GT(r.final_eval.accuracy, 0.3) << "chance is 0.1";
  auto doc = nlohmann::json::parse(tdml::util::read_file(dir / "metrics.json"));
  EXPECT_EQ(doc["status"], "completed");
  EXPECT_EQ(doc["kind"], "train");
  ASSERT_EQ(doc["epochs"].size(), 3u);
  for (const char* k : {"train_loss", "train_acc", "test_loss", "test_acc", "epoch_time_s",
                        "samples_per_s", "data_wait_s", "compute_s", "peak_memory_bytes"}) {
    EXPECT_TRUE(doc["epochs"][2].contains(k)) << k;
  }
  EXPECT_EQ(doc["epochs"][0]["train_samples"], 8 * 64);
  EXPECT_EQ(doc["data"]["synthetic"], true);
  EXPECT_EQ(doc["final"]["confusion_matrix"].size(), 10u);
  EXPECT_EQ(doc["samples"]["predictions"].size(), 16u);
  // Loss falls from epoch 1 to epoch 3.
  EXPECT_LT(doc["epochs"][2]["train_loss"].get<double>(), doc["epochs"][0]["train_loss"].get<double>());
}

TEST(Trainer, ResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne) {
  tdml::test::TempDir straight, split;
  auto a = quick_options(straight.path());
  a.save = true;
  tdml::train::run_training(a);

  auto b = quick_options(split.path());
  b.save = true;
  b.epochs = 1;  // "interrupted" after epoch 1
  tdml::train::run_training(b);
  b.epochs = 2;
  b.resume = true;
  tdml::train::run_training(b);

  expect_same_weights(straight / "checkpoint.pt", split / "checkpoint.pt");
  auto doc = nlohmann::json::parse(tdml::util::read_file(split / "metrics.json"));
  EXPECT_EQ(doc["epochs"].size(), 2u);
  EXPECT_EQ(doc["status"], "completed");
}

TEST(Trainer, ResumeWithoutCheckpointIsAClearError) {
  tdml::test::TempDir dir;
  auto o = quick_options(dir.path());
  o.resume = true;
  try {
    tdml::train::run_training(o);
    FAIL() << "no throw";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.pt is missing"), std::string::npos) << e.what();
  }
}

// bf16 really runs: the same seeded run in fp32 ends with other weights (bf16 rounds every
// conv and matmul), while the loss stays finite and close.
TEST(Trainer, Bf16AutocastTrainsToo) {
  tdml::test::TempDir bf16_dir, fp32_dir;
  auto o = quick_options(bf16_dir.path());
  o.amp = "bf16";
  o.channels_last = true;
  o.epochs = 1;
  // bf16 convolutions run at about 10 images/s on a CPU without bf16 instructions (LibTorch
  // 1.13): 2 steps of 16 images and 64 test images.
  o.batch_size = 16;
  o.limit_train_batches = 2;
  o.eval_batch_size = 64;
  o.limit_test_batches = 1;
  o.save = true;
  auto r = tdml::train::run_training(o);
  EXPECT_TRUE(std::isfinite(r.final_eval.loss));
  EXPECT_EQ(r.metrics["run"]["amp"], "bf16");
  auto f = o;
  f.amp = "off";
  f.out_dir = fp32_dir.path();
  auto rf = tdml::train::run_training(f);
  auto sb = tdml::models::load_tensors(bf16_dir / "checkpoint.pt");
  auto sf = tdml::models::load_tensors(fp32_dir / "checkpoint.pt");
  ASSERT_EQ(sb.size(), sf.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < sb.size(); ++i) {
    max_diff = std::max(max_diff, (sb[i].second - sf[i].second).abs().max().item<double>());
  }
  EXPECT_GT(max_diff, 1e-6) << "bf16 and fp32 runs ended with the same weights: no autocast";
  EXPECT_NEAR(r.final_eval.loss, rf.final_eval.loss, 0.5);
}

// `tdml train --ledger`: one signed block per epoch, the chain continues across a resume, the
// last block names the saved checkpoint, and an edited metric is caught.
TEST(Trainer, LedgerHasABlockPerEpochAndNamesTheCheckpoint) {
  tdml::test::TempDir dir;
  auto o = quick_options(dir.path());
  o.epochs = 1;
  o.limit_train_batches = 3;
  o.save = true;
  tdml::ledger::TrainLedgerOptions lo;
  lo.path = dir / "ledger.jsonl";
  lo.fresh_keys_dir = dir / "keys";
  tdml::train::TrainContext ctx;
  ctx.observers = {std::make_shared<tdml::ledger::TrainLedger>(lo)};
  tdml::train::run_training(o, ctx);
  o.epochs = 2;
  o.resume = true;
  lo.resume = true;  // a resumed run continues its ledger (a new one would be refused)
  ctx.observers = {std::make_shared<tdml::ledger::TrainLedger>(lo)};
  tdml::train::run_training(o, ctx);

  const std::string verify = "ledger verify '" + (dir / "ledger.jsonl") + "' --keys '" +
                             (dir / "keys") + "' --model '" + (dir / "checkpoint.pt") + "'";
  auto r = tdml::test::run_tdml(verify);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("ledger OK: 3 blocks", 0), 0u) << r.output;  // genesis + 2 epochs
  EXPECT_NE(r.output.find("model file matches"), std::string::npos) << r.output;
  auto doc = nlohmann::json::parse(tdml::util::read_file(dir / "metrics.json"));
  EXPECT_EQ(doc["epochs"][1]["ledger_block"].get<std::string>().size(), 64u);

  auto text = tdml::util::read_file(dir / "ledger.jsonl");
  const auto at = text.find("\"test_acc\":");
  ASSERT_NE(at, std::string::npos);
  text[at + 11] = text[at + 11] == '1' ? '2' : '1';  // edit one digit of a metric
  tdml::util::write_file_atomic(dir / "ledger.jsonl", text);
  r = tdml::test::run_tdml(verify);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("ledger BROKEN at block 1", 0), 0u) << r.output;
}

TEST(Trainer, GradAccumOfTwoHalfBatchesEqualsOneWholeBatch) {
  tdml::test::TempDir whole, halves;
  auto a = quick_options(whole.path());
  a.epochs = 1;
  a.batch_size = 64;
  a.augment = false;  // same samples, same pixels in both runs
  a.optim.name = "sgd";
  a.optim.lr = 0.05;
  a.limit_train_batches = 3;
  a.limit_test_batches = 1;
  a.eval_batch_size = 64;
  a.save = true;
  tdml::train::run_training(a);
  auto b = a;
  b.out_dir = halves.path();
  b.batch_size = 32;
  b.grad_accum = 2;
  b.limit_train_batches = 6;  // micro-batches
  tdml::train::run_training(b);
  auto sa = tdml::models::load_tensors(whole / "checkpoint.pt");
  auto sb = tdml::models::load_tensors(halves / "checkpoint.pt");
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(sa[i].second, sb[i].second, 1e-4, 1e-5)) << sa[i].first;
  }
  auto doc = nlohmann::json::parse(tdml::util::read_file(halves / "metrics.json"));
  EXPECT_EQ(doc["config"]["grad_accum"], 2);
  EXPECT_EQ(doc["epochs"][0]["train_samples"], 6 * 32);
}

namespace {

// Copies an uninterrupted run's folder, then keeps only what a crash at `step_kept`'s
// checkpoint would have left: that step checkpoint (no later one, no epoch checkpoint).
void keep_only_step(const std::string& from, const std::string& to, std::int64_t step_kept) {
  namespace fs = std::filesystem;
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
  fs::remove(fs::path(to) / "checkpoint.pt");
  fs::remove(fs::path(to) / "train_state.pt");
  for (const auto& e : fs::directory_iterator(fs::path(to) / "checkpoints")) {
    if (e.path().filename() != "step-" + std::to_string(step_kept)) fs::remove_all(e.path());
  }
}

// Runs `o` again in `dir` with --resume auto; it must end with the bytes of `straight_dir`'s
// uninterrupted run.
void resume_auto_ends_like(tdml::train::TrainOptions o, const std::string& dir,
                           const std::string& straight_dir) {
  o.out_dir = dir;
  o.resume = true;
  o.resume_auto = true;
  tdml::train::run_training(o);
  EXPECT_EQ(tdml::util::read_file(straight_dir + "/checkpoint.pt"),
            tdml::util::read_file(dir + "/checkpoint.pt"));
}

}  // namespace

// --save-every: a run resumed from a step checkpoint inside an epoch (AdamW moments, the LR
// schedule's position, the loader's position and augmentation stream, the epoch's running
// sums) ends with the same bytes and the same metrics as the uninterrupted run.
TEST(Trainer, RunResumedInsideAnEpochFromAStepCheckpointIsBitIdentical) {
  tdml::test::TempDir straight, resumed;
  auto a = quick_options(straight.path());
  a.save = true;
  a.save_every = 5;  // 12 steps an epoch: checkpoints at 5, 10, 15, 20 (the two newest kept)
  a.schedule.name = "cosine";
  a.schedule.warmup_epochs = 0.5;
  tdml::train::run_training(a);
  ASSERT_TRUE(std::filesystem::exists(straight / "checkpoints/step-15/train_state.pt"));
  ASSERT_TRUE(std::filesystem::exists(straight / "checkpoints/step-20/train_state.pt"));
  EXPECT_FALSE(std::filesystem::exists(straight / "checkpoints/step-10"));

  keep_only_step(straight.path(), resumed / "run", 15);  // epoch 2, batch 3 of 12
  resume_auto_ends_like(a, resumed / "run", straight.path());
  auto da = nlohmann::json::parse(tdml::util::read_file(straight / "metrics.json"));
  auto db = nlohmann::json::parse(tdml::util::read_file(resumed / "run/metrics.json"));
  ASSERT_EQ(db["epochs"].size(), 2u);
  for (const char* k : {"train_loss", "train_acc", "train_samples", "steps", "lr", "test_acc"}) {
    EXPECT_EQ(da["epochs"][1][k], db["epochs"][1][k]) << k;
  }
  EXPECT_EQ(db["epochs"][1]["resumed_at_batch"], 3);
  ASSERT_EQ(db["resumes"].size(), 1u);
  EXPECT_EQ(db["resumes"][0]["global_step"], 15);
  EXPECT_EQ(db["resumes"][0]["epoch"], 2);
}

// --resume auto: nothing to resume is a fresh start; with --resume alone it is an error. A
// newest step checkpoint that does not load (a torn disk) is reported, and the older one used.
TEST(Trainer, ResumeAutoStartsAfreshAndFallsBackPastABrokenCheckpoint) {
  tdml::test::TempDir fresh, straight, broken;
  auto o = quick_options(fresh.path());
  o.epochs = 1;
  o.limit_train_batches = 4;
  o.resume = true;
  o.resume_auto = true;
  o.save_every = 2;
  tdml::train::run_training(o);
  auto doc = nlohmann::json::parse(tdml::util::read_file(fresh / "metrics.json"));
  EXPECT_EQ(doc["status"], "completed");
  EXPECT_FALSE(doc.contains("resumes"));

  auto a = quick_options(straight.path());
  a.save = true;
  a.save_every = 5;
  tdml::train::run_training(a);
  keep_only_step(straight.path(), broken / "run", 15);
  std::filesystem::copy(straight / "checkpoints/step-20", broken / "run/checkpoints/step-20",
                        std::filesystem::copy_options::recursive);
  auto state = tdml::util::read_file(broken / "run/checkpoints/step-20/train_state.pt");
  tdml::util::write_file_atomic(broken / "run/checkpoints/step-20/train_state.pt",
                                state.substr(0, state.size() / 2));
  resume_auto_ends_like(a, broken / "run", straight.path());
  doc = nlohmann::json::parse(tdml::util::read_file(broken / "run/metrics.json"));
  EXPECT_EQ(doc["resumes"][0]["global_step"], 15);
}

// A run resumed from a step checkpoint before an epoch's end retrains that epoch; its block is
// already in the ledger (appended before the crash), so it is not appended twice, and the
// ledger verifies.
TEST(Trainer, ResumedRunDoesNotAppendAnEpochTheLedgerHolds) {
  tdml::test::TempDir straight, resumed;
  auto a = quick_options(straight.path());
  a.save = true;
  a.save_every = 5;
  tdml::ledger::TrainLedgerOptions lo;
  lo.path = straight / "ledger.jsonl";
  lo.fresh_keys_dir = straight / "keys";
  tdml::train::TrainContext ctx;
  ctx.observers = {std::make_shared<tdml::ledger::TrainLedger>(lo)};
  tdml::train::run_training(a, ctx);

  keep_only_step(straight.path(), resumed / "run", 20);  // after epoch 1's block, in epoch 2
  auto b = a;
  b.out_dir = resumed / "run";
  b.resume = true;
  auto lb = lo;
  lb.path = resumed / "run/ledger.jsonl";
  lb.keys_dir = resumed / "run/keys";
  lb.resume = true;
  ctx.observers = {std::make_shared<tdml::ledger::TrainLedger>(lb)};
  tdml::train::run_training(b, ctx);  // epoch 2 again: its block is there already
  const std::string verify = "ledger verify '" + (resumed / "run/ledger.jsonl") + "' --keys '" +
                             (resumed / "run/keys") + "' --model '" +
                             (resumed / "run/checkpoint.pt") + "'";
  auto r = tdml::test::run_tdml(verify);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("ledger OK: 3 blocks", 0), 0u) << r.output;  // genesis + 2 epochs

}
