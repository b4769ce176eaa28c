// #19 section 4: bad data never crashes or hangs. Each kind of broken input a user can hand
// tdml (a checkpoint, a CIFAR-10 batch, a ledger, a key file) is one clear error line, a
// non-zero exit, and leaves the files it was given as they were.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "support/test_support.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/fs.h"

namespace {

using tdml::test::run_tdml;
namespace fs = std::filesystem;

// The output has exactly one "tdml: error:" line and it contains `what`.
void expect_one_error(const tdml::test::CliResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::size_t count = 0;
  for (auto at = r.output.find("tdml: error:"); at != std::string::npos;
       at = r.output.find("tdml: error:", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << r.output;
  EXPECT_NE(r.output.find(what), std::string::npos) << "expected '" << what << "' in\n" << r.output;
}

// A small CIFAR-shaped data set and a one-epoch run on it with a checkpoint, made once.
struct Fixture {
  tdml::test::TempDir dir;
  std::string data, run;
  Fixture() {
    data = dir / "data";
    run = dir / "run";
    auto s = run_tdml("data synth --train 64 --test 16 --seed 3 --out " + data + " -q");
    EXPECT_EQ(s.exit_code, 0) << s.output;
    auto t = run_tdml(train(run) + " --save");
    EXPECT_EQ(t.exit_code, 0) << t.output;
  }
  std::string train(const std::string& out) const {
    return "train --model tinycnn --data " + data +
           " --batch-size 16 --limit-test-batches 1 -q --out " + out;
  }
};

const Fixture& fixture() {
  static Fixture f;
  return f;
}

// A copy of the fixture's run folder to break.
std::string copy_run(const tdml::test::TempDir& into) {
  const std::string to = into / "run";
  fs::copy(fixture().run, to, fs::copy_options::recursive);
  return to;
}

std::string bytes(const std::string& path) { return tdml::util::read_file(path); }

}  // namespace

TEST(BadInput, TruncatedOrCorruptCheckpointIsOneErrorAndNothingIsOverwritten) {
  tdml::test::TempDir tmp;
  const auto run = copy_run(tmp);
  const auto whole = bytes(run + "/checkpoint.pt");
  for (const std::string& broken :
       {whole.substr(0, whole.size() / 3), std::string(whole.size(), 'x')}) {
    tdml::util::write_file_atomic(run + "/checkpoint.pt", broken);
    const auto state = bytes(run + "/train_state.pt");
    const auto metrics = bytes(run + "/metrics.json");
    expect_one_error(run_tdml(fixture().train(run) + " --resume --epochs 2"), "checkpoint.pt");
    EXPECT_EQ(bytes(run + "/checkpoint.pt"), broken);
    EXPECT_EQ(bytes(run + "/train_state.pt"), state);
    EXPECT_EQ(bytes(run + "/metrics.json"), metrics);
    expect_one_error(run_tdml("eval --checkpoint " + run + "/checkpoint.pt --data " +
                              fixture().data + " -q"),
                     "checkpoint.pt");
  }
}

TEST(BadInput, CheckpointHoldingATensorOfAnotherShapeOrDtypeIsRefused) {
  tdml::test::TempDir tmp;
  const auto run = copy_run(tmp);
  const auto good = tdml::models::load_tensors(run + "/checkpoint.pt");
  ASSERT_FALSE(good.empty());
  for (const char* change : {"shape", "dtype"}) {
    SCOPED_TRACE(change);
    auto sd = good;
    auto& [name, t] = sd.front();
    t = std::string(change) == "shape" ? t.narrow(0, 0, t.size(0) - 1).clone()
                                       : t.to(torch::kFloat64);
    tdml::models::save_tensors(run + "/checkpoint.pt", sd);
    const auto written = bytes(run + "/checkpoint.pt");
    const auto state = bytes(run + "/train_state.pt");
    expect_one_error(run_tdml(fixture().train(run) + " --resume --epochs 2"), name);
    EXPECT_EQ(bytes(run + "/checkpoint.pt"), written) << change;
    EXPECT_EQ(bytes(run + "/train_state.pt"), state) << change;
    expect_one_error(run_tdml("eval --model tinycnn --checkpoint " + run +
                              "/checkpoint.pt --data " + fixture().data + " -q"),
                     name);
  }
}

TEST(BadInput, CifarBatchOfTheWrongSizeOrWithALabelOutOfRangeNamesTheFile) {
  tdml::test::TempDir tmp;
  const std::string data = tmp / "data";
  fs::copy(fixture().data, data, fs::copy_options::recursive);
  const std::string batch = data + "/cifar-10-batches-bin/data_batch_1.bin";
  const auto good = bytes(batch);
  ASSERT_EQ(good.size() % 3073, 0u);
  tdml::util::write_file_atomic(batch, good.substr(0, good.size() - 1));
  auto r = run_tdml("train --model tinycnn --data " + data + " -q --out " + (tmp / "out"));
  expect_one_error(r, "data_batch_1.bin");
  std::string bad_label = good;
  bad_label[3073 * 2] = 10;  // record 2's label
  tdml::util::write_file_atomic(batch, bad_label);
  r = run_tdml("train --model tinycnn --data " + data + " -q --out " + (tmp / "out"));
  expect_one_error(r, "data_batch_1.bin");
  EXPECT_NE(r.output.find("label 10"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out/metrics.json"));
}

// A gigabyte given as a ledger: refused at its first NUL byte, in one streaming pass, without
// reading the gigabyte into memory (before, `ledger show` held 3.3 GB for 24 s).
TEST(BadInput, AGigabyteOfGarbageGivenAsALedgerIsRefusedAtOnce) {
  tdml::test::TempDir tmp;
  const std::string path = tmp / "ledger.jsonl";
  {
    std::mt19937 gen(5);
    std::string noise(4096, '\0');
    for (auto& c : noise) c = static_cast<char>(gen());
    std::ofstream f(path, std::ios::binary);
    f << noise;
  }
  ASSERT_EQ(::truncate(path.c_str(), 1LL << 30), 0);  // sparse: 1 GiB, no disk used
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string& cmd : {"ledger verify " + path + " --no-signatures",
                                 "ledger show " + path}) {
    auto r = run_tdml(cmd);
    EXPECT_NE(r.exit_code, 0) << cmd << "\n" << r.output;
    EXPECT_NE(r.output.find("is not a tdml ledger: a NUL byte at offset"), std::string::npos)
        << cmd << "\n" << r.output;
  }
  // A hang bound, not a speed claim: the refusal reads a few bytes of the gigabyte.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60.0);
  EXPECT_EQ(fs::file_size(path), 1ull << 30);
}

TEST(BadInput, KeyFileOfTheWrongSizeIsRefusedAndKept) {
  tdml::test::TempDir tmp;
  auto g = run_tdml("keys gen --id client-1 --out " + (tmp / "keys") + " -q");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  const std::string key = tmp / "keys/client-1.key";
  const auto good = bytes(key);
  const std::string short_key = good.substr(0, good.size() / 2);
  {
    std::ofstream f(key, std::ios::binary | std::ios::trunc);
    f << short_key;
  }
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  auto r = run_tdml("fl client --server 127.0.0.1:9 --insecure --id client-1 --key " + key +
                    " --data " + fixture().data + " --out " + (tmp / "client") + " -q");
  expect_one_error(r, "client-1.key");
  EXPECT_EQ(bytes(key), short_key);
}

// Zeros after a ledger's last line are what a power loss leaves of an append (the length
// reached the disk, the bytes did not): that is a torn line, which verify --repair removes,
// not garbage.
TEST(BadInput, ZerosAfterALedgersLastLineAreATornAppendThatRepairRemoves) {
  tdml::test::TempDir tmp;
  const std::string ledger = tmp / "ledger.jsonl";
  auto t = run_tdml(fixture().train(tmp / "run") + " --ledger " + ledger);
  ASSERT_EQ(t.exit_code, 0) << t.output;
  const auto good = bytes(ledger);
  {
    std::ofstream f(ledger, std::ios::binary | std::ios::app);
    f << std::string(4096, '\0');
  }
  const std::string verify = "ledger verify " + ledger + " --keys " + (tmp / "run/keys");
  auto r = run_tdml(verify);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("torn"), std::string::npos) << r.output;
  r = run_tdml(verify + " --repair");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(bytes(ledger), good);
}
