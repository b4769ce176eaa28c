// Test-only fault injection, linked into the tdml-faults binary only (tests/CMakeLists.txt):
// when TDML_TEST_DIE_RANK equals a rank and its step reaches TDML_TEST_DIE_AFTER_STEPS (default
// 0), the process SIGKILLs itself, as a crashed or preempted worker would. The variables are
// read once, at start-up, not in the step loop.
#include <csignal>
#include <cstdint>
#include <cstdlib>

#include "tdml/dist/step_hook.h"

namespace {

int g_die_rank = -1;
std::int64_t g_die_after = 0;

void die_at_step(int rank, std::int64_t step) {
  if (rank == g_die_rank && step >= g_die_after) std::raise(SIGKILL);
}

struct InstallFromEnvironment {
  InstallFromEnvironment() {
    const char* rank = std::getenv("TDML_TEST_DIE_RANK");
    if (!rank) return;
    g_die_rank = std::atoi(rank);
    const char* after = std::getenv("TDML_TEST_DIE_AFTER_STEPS");
    g_die_after = after ? std::atoll(after) : 0;
    tdml::dist::set_step_hook(&die_at_step);
  }
} g_install;

}  // namespace
