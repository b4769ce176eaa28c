// The test binary's main: GoogleTest's, plus an exit status that tells a skip from a pass.
// ctest runs a suite's short tests as one entry (cmake/gtest_suites.cmake); an entry counts as
// skipped on exit status 77 (SKIP_RETURN_CODE), which this main returns only when no test
// failed and at least one was skipped. (Matching "[  SKIPPED ]" in the output instead would make
// an entry with one skipped and one failed test a skip, and ctest would pass.)
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  if (rc == 0 && ::testing::UnitTest::GetInstance()->skipped_test_count() > 0) return 77;
  return rc;
}
