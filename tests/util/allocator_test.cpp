#include "tdml/util/allocator.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdlib>

namespace tdml::util {
namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Minor page faults of five training steps of a convolution whose output is TinyCNN's first
// activation at batch 128 (32 MiB, at glibc's largest mmap threshold), after five warm-up steps.
long faults_of_training_steps() {
  torch::manual_seed(0);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 64, 3).padding(1));
  auto x = torch::randn({128, 3, 32, 32});
  auto step = [&] {
    conv->zero_grad();
    torch::relu(conv(x)).mean().backward();
  };
  for (int i = 0; i < 5; ++i) step();
  const long before = minor_faults();
  for (int i = 0; i < 5; ++i) step();
  return minor_faults() - before;
}

#if defined(__GLIBC__)
TEST(Allocator, AFreedLargeTensorIsReusedWithoutPageFaults) {
  unsetenv("TDML_MALLOC");
  ASSERT_EQ(keep_freed_memory(), "keep-freed");
  EXPECT_EQ(allocator_mode(), "keep-freed");
  // Each 32 MiB tensor is 8,192 pages: glibc's default maps fresh ones for every allocation
  // (each faulted and zeroed by the kernel), about 245,000 faults for these five steps here;
  // kept in the heap they are reused.
  EXPECT_LT(faults_of_training_steps(), 2000);
  // Handing free memory back makes the next allocation fault again (what autobatch relies on).
  torch::empty({10 << 20}, torch::kFloat).fill_(1.0f);
  release_free_memory();
  const long before = minor_faults();
  torch::empty({10 << 20}, torch::kFloat).fill_(1.0f);
  EXPECT_GT(minor_faults() - before, 1000);
}
#endif

TEST(Allocator, TdmlMallocSystemLeavesTheDefaults) {
  setenv("TDML_MALLOC", "system", 1);
  EXPECT_EQ(keep_freed_memory(), "system (TDML_MALLOC=system)");
  EXPECT_EQ(allocator_mode(), "system (TDML_MALLOC=system)");
  unsetenv("TDML_MALLOC");
}

}  // namespace
}  // namespace tdml::util
