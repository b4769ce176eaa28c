#pragma once
// Optimizers and learning-rate schedules (per step, so warmup is smooth within an epoch).
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "tdml/train/options.h"

namespace tdml::train {

// SGD (momentum, nesterov, L2 weight decay) or AdamW (decoupled weight decay).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> params,
                                                        const OptimizerOptions& o);

// Learning rate at `step` (0-based) of `total_steps`, given `steps_per_epoch`:
// linear warmup to base_lr over warmup_epochs, then the schedule:
// constant; step (x gamma every step_epochs); cosine (to min_lr at the end);
// onecycle (torch.optim.lr_scheduler.OneCycleLR, cosine, div_factor 25, final_div 1e4).
double lr_at(const ScheduleOptions& s, double base_lr, std::int64_t step, std::int64_t total_steps,
             std::int64_t steps_per_epoch);

// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace tdml::train
