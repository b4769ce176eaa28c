#include "tdml/dist/step_hook.h"

#include <atomic>

namespace tdml::dist {
namespace {
std::atomic<StepHook> g_hook{nullptr};
}  // namespace

void set_step_hook(StepHook hook) { g_hook.store(hook, std::memory_order_release); }

void on_rank_step(int rank, std::int64_t step) {
  if (auto hook = g_hook.load(std::memory_order_acquire)) hook(rank, step);
}

}  // namespace tdml::dist
