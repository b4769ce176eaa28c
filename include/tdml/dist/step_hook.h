#pragma once
// A process-wide callback run at every step of a rank (a ddp or pipeline training step, a timed
// all-reduce of `tdml bench allreduce`). The release binary installs none, so a step costs one
// pointer load; the test build's tdml-faults binary installs one that kills a chosen rank at a
// chosen step (tests/support/fault_injection.cpp), as a crashed or preempted worker would.
#include <cstdint>

namespace tdml::dist {

using StepHook = void (*)(int rank, std::int64_t step);

// Installs `hook` (nullptr removes it). Call before any rank starts stepping.
void set_step_hook(StepHook hook);

// Runs the installed hook, if any, for step `step` (0-based, counted by the caller) of `rank`.
void on_rank_step(int rank, std::int64_t step);

}  // namespace tdml::dist
