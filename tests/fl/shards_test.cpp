// `tdml data split` shards: each client's file holds exactly its rows of the `tdml fl`
// partition, the manifest's counts and hashes are right, and damaged files are refused.
#include "tdml/fl/shards.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "tdml/data/cifar10.h"
#include "tdml/data/source.h"
#include "tdml/data/synthetic.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/sha256.h"

using namespace tdml;
using tdml::test::run_tdml;
using tdml::test::TempDir;

namespace {

template <typename F>
std::string shard_error_of(F&& f) {
  try {
    f();
  } catch (const tdml::Error& e) {
    return e.what();
  }
  return "";
}

void expect_same_rows(const data::Dataset& got, const data::Dataset& want,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_TRUE(torch::equal(got.images, want.images)) << what;
  EXPECT_TRUE(torch::equal(got.labels, want.labels)) << what;
  EXPECT_EQ(got.images.sizes(), (std::vector<std::int64_t>{want.size(), 3, 32, 32})) << what;
  EXPECT_EQ(got.labels.scalar_type(), torch::kInt64) << what;
}

struct Fixture {
  data::Dataset train = data::make_synthetic(600, data::Split::kTrain);
  data::Dataset test = data::make_synthetic(50, data::Split::kTest);
};

fl::SplitOptions iid(int clients, std::int64_t per_client, std::uint64_t seed) {
  fl::SplitOptions o;
  o.partition.clients = clients;
  o.partition.per_client = per_client;
  o.partition.seed = seed;
  return o;
}

// Overwrites one byte of PATH at `offset`.
void poke(const std::string& path, std::int64_t offset, unsigned char value) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  f.put(static_cast<char>(value));
}

}  // namespace

TEST(ShardFiles, IidShardsHoldExactlyTheFlPartitionRows) {
  Fixture d;
  TempDir dir;
  const auto m = fl::write_shards(d.train, d.test, "synthetic", dir.path(), iid(3, 100, 5));
  const auto part = fl::iid_partition(d.train.size(), 3, 100, 5);
  const auto hist = fl::class_histogram(d.train.labels, part, 10);
  ASSERT_EQ(m["clients"].size(), 3u);
  for (int k = 0; k < 3; ++k) {
    const std::string id = "client-" + std::to_string(k);
    const fl::Shard s = fl::load_client_shard(dir / id);
    EXPECT_EQ(s.id, id);
    EXPECT_TRUE(s.verified);
    expect_same_rows(s.data, d.train.subset(part[k]), id);
    const auto& c = m["clients"][k];
    EXPECT_EQ(c["id"], id);
    EXPECT_EQ(c["dir"], id);
    EXPECT_EQ(c["samples"], 100);
    for (int cls = 0; cls < 10; ++cls) {
      EXPECT_EQ(c["label_counts"][cls].get<std::int64_t>(), hist[k][cls].item<std::int64_t>());
    }
    const std::string bytes = util::read_file(dir / id + "/data_batch_1.bin");
    EXPECT_EQ(c["files"][0]["name"], "data_batch_1.bin");
    EXPECT_EQ(c["files"][0]["bytes"], 100 * 3073);
    EXPECT_EQ(c["files"][0]["sha256"], util::sha256_hex(bytes));
    EXPECT_EQ(s.sha256, util::sha256_hex(bytes));
  }
  EXPECT_EQ(nlohmann::json::parse(util::read_file(dir / "manifest.json")), m);
  EXPECT_EQ(m["format"], "tdml.shards.v1");
  EXPECT_EQ(m["source"], "synthetic");
  EXPECT_EQ(m["partition"], "iid");
  EXPECT_EQ(m["per_client"], 100);
  EXPECT_EQ(m["seed"], 5);
  EXPECT_FALSE(m.contains("alpha"));
  EXPECT_EQ(m["server"]["samples"], 50);
  expect_same_rows(fl::load_server_test(dir.path()), d.test, "server");
}

TEST(ShardFiles, DirichletShardsCoverTheTrainSet) {
  Fixture d;
  TempDir dir;
  fl::SplitOptions o;
  o.partition.kind = "dirichlet";
  o.partition.clients = 4;
  o.partition.alpha = 0.3;
  o.partition.seed = 2;
  const auto m = fl::write_shards(d.train, d.test, "synthetic", dir.path(), o);
  fl::DirichletOptions dopt;
  dopt.alpha = 0.3;
  dopt.seed = 2;
  const auto part = fl::dirichlet_partition(d.train.labels, 4, 10, dopt);
  std::int64_t total = 0;
  for (int k = 0; k < 4; ++k) {
    const auto s = fl::load_client_shard(dir / ("client-" + std::to_string(k)));
    expect_same_rows(s.data, d.train.subset(part[k]), s.id);
    total += s.data.size();
  }
  EXPECT_EQ(total, d.train.size());
  EXPECT_EQ(m["alpha"], 0.3);
  EXPECT_EQ(m["partition"], "dirichlet");
}

TEST(ShardFiles, AllShardsConcatenateBackToTheirRows) {
  Fixture d;
  TempDir dir;
  fl::write_shards(d.train, d.test, "synthetic", dir.path(), iid(4, 0, 9));
  const auto part = fl::iid_partition(d.train.size(), 4, 0, 9);
  const fl::ShardSet set = fl::load_all_shards(dir.path());
  ASSERT_EQ(set.clients.size(), 4u);
  EXPECT_EQ(set.ids, (std::vector<std::string>{"client-0", "client-1", "client-2", "client-3"}));
  expect_same_rows(set.test, d.test, "test");
  const fl::ConcatenatedShards all = fl::concat_shards(set.clients);
  ASSERT_EQ(all.part.size(), 4u);
  EXPECT_EQ(all.train.size(), 600);
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(torch::equal(all.part[k], torch::arange(150 * k, 150 * (k + 1), torch::kInt64)));
    expect_same_rows(all.train.subset(all.part[k]), set.clients[k], set.ids[k]);
    expect_same_rows(all.train.subset(all.part[k]), d.train.subset(part[k]), set.ids[k]);
  }
  EXPECT_THROW(fl::concat_shards({}), tdml::Error);
}

TEST(ShardFiles, AFlippedByteIsRefusedNamingTheFile) {
  Fixture d;
  TempDir dir;
  fl::write_shards(d.train, d.test, "synthetic", dir.path(), iid(2, 50, 1));
  const std::string path = dir / "client-1/data_batch_1.bin";
  const std::string before = util::read_file(path);
  poke(path, 3073 * 7 + 100, static_cast<unsigned char>(before[3073 * 7 + 100] ^ 0x01));
  std::string msg = shard_error_of([&] { fl::load_client_shard(dir / "client-1"); });
  EXPECT_NE(msg.find("shard file " + path + " does not match " + (dir / "manifest.json")),
            std::string::npos)
      << msg;
  EXPECT_NE(shard_error_of([&] { fl::load_all_shards(dir.path()); }).find(path), std::string::npos);
  EXPECT_NO_THROW(fl::load_client_shard(dir / "client-0"));
  const std::string test_path = dir / "server/test_batch.bin";
  const int label = util::read_file(test_path)[0];
  poke(test_path, 0, (label + 1) % 10);  // still a valid record, but not the split's
  msg = shard_error_of([&] { fl::load_server_test(dir.path()); });
  EXPECT_NE(msg.find(test_path), std::string::npos) << msg;
}

TEST(ShardFiles, BadRecordsAreRefusedNamingFileAndRecord) {
  TempDir dir;  // a lone client folder: no manifest to check against
  util::make_dirs(dir / "client-0");
  const std::string path = dir / "client-0/data_batch_1.bin";
  const data::Dataset three = data::make_synthetic(3, data::Split::kTrain);
  std::string bytes = data::encode_cifar10_records(three);
  util::write_file_atomic(path, bytes);
  const fl::Shard ok = fl::load_client_shard(dir / "client-0/");
  EXPECT_FALSE(ok.verified);
  EXPECT_EQ(ok.id, "client-0");
  expect_same_rows(ok.data, three, "three records");

  util::write_file_atomic(path, bytes + "12345");
  std::string msg = shard_error_of([&] { fl::load_client_shard(dir / "client-0"); });
  EXPECT_NE(msg.find(path + " has 9224 bytes, not a multiple of the 3073-byte record"),
            std::string::npos)
      << msg;
  bytes[3073] = 11;
  util::write_file_atomic(path, bytes);
  msg = shard_error_of([&] { fl::load_client_shard(dir / "client-0"); });
  EXPECT_NE(msg.find(path + ": record 1 (byte offset 3073) has label 11"), std::string::npos)
      << msg;
  util::write_file_atomic(path, "");
  EXPECT_EQ(fl::load_client_shard(dir / "client-0").data.size(), 0);
  msg = shard_error_of([&] { fl::load_client_shard(dir / "client-9"); });
  EXPECT_NE(msg.find("no shard file " + (dir / "client-9/data_batch_1.bin")), std::string::npos)
      << msg;
}

TEST(ShardFiles, NonEmptyOutIsRefusedWithoutOverwrite) {
  Fixture d;
  TempDir dir;
  fl::write_shards(d.train, d.test, "synthetic", dir.path(), iid(2, 50, 1));
  const std::string msg = shard_error_of(
      [&] { fl::write_shards(d.train, d.test, "synthetic", dir.path(), iid(2, 50, 2)); });
  EXPECT_NE(msg.find("is not empty"), std::string::npos) << msg;
  auto o = iid(2, 50, 2);
  o.overwrite = true;
  EXPECT_EQ(fl::write_shards(d.train, d.test, "synthetic", dir.path(), o)["seed"], 2);
  expect_same_rows(fl::load_client_shard(dir / "client-1").data,
                   d.train.subset(fl::iid_partition(600, 2, 50, 2)[1]), "overwritten");
}

TEST(DataSplitCli, SyntheticSplitMatchesTheFlPartition) {
  TempDir dir;
  auto r = run_tdml("data split --data synthetic --clients 3 --per-client 500 --seed 7 --out '" +
                    (dir / "s") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("client-2: 500 samples, labels"), std::string::npos) << r.output;
  const data::DataSplits splits = data::load_data("synthetic");
  const auto part = fl::iid_partition(splits.train.size(), 3, 500, 7);
  expect_same_rows(fl::load_client_shard(dir / "s/client-2").data, splits.train.subset(part[2]),
                   "client-2");
  expect_same_rows(fl::load_server_test(dir / "s"), splits.test, "server");
  EXPECT_EQ(fl::load_all_shards(dir / "s").manifest["source"], splits.description);

  r = run_tdml("data info --data '" + (dir / "s") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("shards " + (dir / "s") + " (3 clients, iid partition, seed 7"),
            std::string::npos)
      << r.output;
  r = run_tdml("data split --data synthetic --clients 3 --per-client 500 --out '" + (dir / "s") +
               "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is not empty"), std::string::npos) << r.output;
  r = run_tdml("data split --data synthetic --clients 3 --per-client 500 --force --out '" +
               (dir / "s") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(DataSplitCli, BadOptionsExit2WithOneLine) {
  TempDir dir;
  const std::string out = " --out '" + (dir / "s") + "'";
  for (const std::string& args :
       std::vector<std::string>{"--data synthetic", "--data synthetic --partition zipf" + out,
                                "--data synthetic --clients 0" + out,
                                "--data synthetic --alpha 0 --partition dirichlet" + out,
                                "--data synthetic --per-client -1" + out,
                                "--data synthetic --clients 20 --per-client 500" + out,
                                "--data synthetic --clients x" + out}) {
    auto r = run_tdml("data split " + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << ": " << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "s/manifest.json"));
}
