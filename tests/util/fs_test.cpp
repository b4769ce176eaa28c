#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

TEST(Fs, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  tdml::test::TempDir dir;
  const auto path = dir / "a.json";
  tdml::util::write_file_atomic(path, "first version, long");
  tdml::util::write_file_atomic(path, "second");
  EXPECT_EQ(tdml::util::read_file(path), "second");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++files;
  EXPECT_EQ(files, 1);
}

TEST(Fs, ReadMissingFileNamesIt) {
  try {
    tdml::util::read_file("/nonexistent/x.bin");
    FAIL() << "no throw";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.bin"), std::string::npos);
  }
}
