#pragma once
// Pipeline schedules: the order in which one stage runs the forward and backward passes of a
// batch's M micro-batches.
//
//   GPipe: F0 F1 .. F(M-1), then B0 B1 .. B(M-1). Holds M micro-batches of activations.
//   1F1B:  stage s (of S) warms up with min(S-1-s, M) forwards, then alternates one forward and
//          one backward, then cools down with the remaining backwards. Holds at most S - s <= S
//          micro-batches of activations.
// Both have the same bubble: (S-1)/(M+S-1) of a step when every stage takes equal time.
#include <string>
#include <vector>

namespace tdml::pipeline {

enum class ScheduleKind { kGPipe, kOneFOneB };

// "gpipe" | "1f1b"; tdml::UsageError otherwise.
ScheduleKind parse_schedule(const std::string& name);
std::string schedule_name(ScheduleKind kind);

struct Action {
  enum class Op { kForward, kBackward };
  Op op = Op::kForward;
  int micro = 0;  // micro-batch index, 0 .. M-1
  bool operator==(const Action& o) const { return op == o.op && micro == o.micro; }
};

// The actions of stage `stage` (0 .. stages-1) for `micro_batches` micro-batches. Every
// micro-batch appears once forward and once backward, backward after forward; across stages the
// orders are compatible (no stage waits forever on another).
std::vector<Action> stage_actions(ScheduleKind kind, int stage, int stages, int micro_batches);

// Most micro-batches forwarded but not yet backwarded at any point of `actions`.
int max_in_flight(const std::vector<Action>& actions);

// (S-1)/(M+S-1): the idle share of a step for equal stage times.
double theoretical_bubble(int stages, int micro_batches);

}  // namespace tdml::pipeline
