#include "tdml/data/cifar10.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "tdml/data/synthetic.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::data {
namespace {

using test::TempDir;

// Builds records by hand so the reader is checked against the layout, not against the writer.
std::string records(int n, int first_label = 0) {
  std::string s;
  for (int r = 0; r < n; ++r) {
    s.push_back(static_cast<char>((first_label + r) % 10));
    for (int i = 0; i < kCifarImageBytes; ++i) s.push_back(static_cast<char>((r * 7 + i) % 251));
  }
  return s;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Cifar10Reader, ReadsPlanesAndLabels) {
  TempDir t;
  util::write_file_atomic(t / "b.bin", records(3, 4));
  Dataset d = read_cifar10_bin(t / "b.bin");
  ASSERT_EQ(d.size(), 3);
  EXPECT_EQ(d.images.sizes(), (std::vector<std::int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(d.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(d.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(d.labels[2].item<int>(), 6);
  // Record 1, green plane (offset 1024), row 2, column 5: byte index 1024 + 2*32 + 5.
  const int i = 1024 + 2 * 32 + 5;
  EXPECT_EQ(d.images[1][1][2][5].item<int>(), (1 * 7 + i) % 251);
}

TEST(Cifar10Reader, WriteThenReadRoundTrips) {
  TempDir t;
  Dataset d = make_synthetic(17, Split::kTest);
  write_cifar10_bin(t / "x.bin", d);
  EXPECT_EQ(std::filesystem::file_size(t / "x.bin"), 17u * kCifarRecordBytes);
  Dataset back = read_cifar10_bin(t / "x.bin");
  EXPECT_TRUE(torch::equal(back.images, d.images));
  EXPECT_TRUE(torch::equal(back.labels, d.labels));
}

TEST(Cifar10Reader, MissingFileNamesIt) {
  TempDir t;
  auto msg = error_of([&] { read_cifar10_bin(t / "nope.bin"); });
  EXPECT_NE(msg.find(t / "nope.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST(Cifar10Reader, TruncatedFileIsRejected) {
  TempDir t;
  std::string s = records(2);
  util::write_file_atomic(t / "cut.bin", s.substr(0, s.size() - 100));
  auto msg = error_of([&] { read_cifar10_bin(t / "cut.bin"); });
  EXPECT_NE(msg.find(t / "cut.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a multiple of the 3073-byte record"), std::string::npos) << msg;
}

TEST(Cifar10Reader, EmptyFileIsRejected) {
  TempDir t;
  util::write_file_atomic(t / "e.bin", "");
  auto msg = error_of([&] { read_cifar10_bin(t / "e.bin"); });
  EXPECT_NE(msg.find("is empty"), std::string::npos) << msg;
}

TEST(Cifar10Reader, LabelOutOfRangeNamesRecord) {
  TempDir t;
  std::string s = records(3);
  s[2 * kCifarRecordBytes] = 10;
  util::write_file_atomic(t / "l.bin", s);
  auto msg = error_of([&] { read_cifar10_bin(t / "l.bin"); });
  EXPECT_NE(msg.find(t / "l.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("record 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 10, expected 0..9"), std::string::npos) << msg;
}

TEST(Cifar10Reader, DirectoryIsNotAFile) {
  TempDir t;
  auto msg = error_of([&] { read_cifar10_bin(t.path()); });
  EXPECT_NE(msg.find("cannot read CIFAR-10 file " + t.path()), std::string::npos) << msg;
}

TEST(Cifar10Layout, ResolvesNestedAndFlatFolders) {
  TempDir t;
  SynthOptions o;
  o.train_size = 10;
  o.test_size = 3;
  const std::string batches = write_synthetic_cifar10(t.path(), o);
  EXPECT_EQ(resolve_cifar10_dir(t.path()), batches);
  EXPECT_EQ(resolve_cifar10_dir(batches), batches);
  Dataset train = load_cifar10(t.path(), Split::kTrain);
  Dataset test = load_cifar10(t.path(), Split::kTest);
  EXPECT_EQ(train.size(), 10);
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(train.source, batches);
}

TEST(Cifar10Layout, WrongLayoutListsMissingFiles) {
  TempDir t;
  util::make_dirs(t / "cifar-10-batches-bin");
  util::write_file_atomic(t / "cifar-10-batches-bin/data_batch_1.bin", records(1));
  auto msg = error_of([&] { load_cifar10(t.path(), Split::kTrain); });
  EXPECT_NE(msg.find("wrong layout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing data_batch_2.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test_batch.bin"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("data_batch_1.bin,"), std::string::npos) << msg;
}

TEST(Cifar10Layout, MissingFolderSuggestsFetch) {
  auto msg = error_of([] { resolve_cifar10_dir("/nonexistent/tdml-data"); });
  EXPECT_NE(msg.find("/nonexistent/tdml-data does not exist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tdml data fetch"), std::string::npos) << msg;
}

TEST(Cifar10Layout, BadFileInsideSplitNamesThatFile) {
  TempDir t;
  SynthOptions o;
  o.train_size = 10;
  o.test_size = 2;
  const std::string batches = write_synthetic_cifar10(t.path(), o);
  std::ofstream(batches + "/data_batch_4.bin", std::ios::app) << "xyz";
  auto msg = error_of([&] { load_cifar10(t.path(), Split::kTrain); });
  EXPECT_NE(msg.find("data_batch_4.bin has 6149 bytes"), std::string::npos) << msg;
  EXPECT_NO_THROW(load_cifar10(t.path(), Split::kTest));
}

}  // namespace
}  // namespace tdml::data
