#include "tdml/pipeline/schedule.h"

#include <algorithm>

#include "tdml/util/error.h"

namespace tdml::pipeline {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "gpipe") return ScheduleKind::kGPipe;
  if (name == "1f1b") return ScheduleKind::kOneFOneB;
  throw UsageError("pipeline schedule " + name + ": expected gpipe or 1f1b");
}

std::string schedule_name(ScheduleKind kind) {
  return kind == ScheduleKind::kGPipe ? "gpipe" : "1f1b";
}

std::vector<Action> stage_actions(ScheduleKind kind, int stage, int stages, int micro_batches) {
  TDML_CHECK(stages >= 1 && stage >= 0 && stage < stages && micro_batches >= 1,
             "bad schedule: stage " << stage << " of " << stages << ", " << micro_batches
                                    << " micro-batches");
  using Op = Action::Op;
  std::vector<Action> out;
  if (kind == ScheduleKind::kGPipe) {
    for (int m = 0; m < micro_batches; ++m) out.push_back({Op::kForward, m});
    for (int m = 0; m < micro_batches; ++m) out.push_back({Op::kBackward, m});
    return out;
  }
  const int warmup = std::min(stages - 1 - stage, micro_batches);
  int next_f = 0, next_b = 0;
  for (; next_f < warmup; ++next_f) out.push_back({Op::kForward, next_f});
  while (next_f < micro_batches) {
    out.push_back({Op::kForward, next_f++});
    out.push_back({Op::kBackward, next_b++});
  }
  while (next_b < micro_batches) out.push_back({Op::kBackward, next_b++});
  return out;
}

int max_in_flight(const std::vector<Action>& actions) {
  int now = 0, most = 0;
  for (const auto& a : actions) {
    now += a.op == Action::Op::kForward ? 1 : -1;
    most = std::max(most, now);
  }
  return most;
}

double theoretical_bubble(int stages, int micro_batches) {
  return static_cast<double>(stages - 1) / static_cast<double>(micro_batches + stages - 1);
}

}  // namespace tdml::pipeline
