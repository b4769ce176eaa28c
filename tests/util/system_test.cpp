#include "tdml/util/system.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace {

std::string own_name() {
  std::ifstream in("/proc/self/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

}  // namespace

// What ps and top show for a rank the launcher started from /proc/self/exe.
TEST(System, NamesTheProcessAfterTheLastPartOfArgv0) {
#if !defined(__linux__)
  GTEST_SKIP() << "process names are set on Linux only";
#endif
  const std::string before = own_name();
  ASSERT_FALSE(before.empty());
  tdml::util::name_process_after("/opt/tools/bin/tdml");
  EXPECT_EQ(own_name(), "tdml");
  tdml::util::name_process_after("tdml-with-a-long-name");  // the kernel keeps 15 bytes
  EXPECT_EQ(own_name(), "tdml-with-a-lon");
  tdml::util::name_process_after("/ends/with/slash/");  // no name: left as it was
  EXPECT_EQ(own_name(), "tdml-with-a-lon");
  tdml::util::name_process_after(before.c_str());
  EXPECT_EQ(own_name(), before);
}
