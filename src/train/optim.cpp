#include "tdml/train/optim.h"

#include <cmath>

#include "tdml/util/error.h"

namespace tdml::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> params,
                                                        const OptimizerOptions& o) {
  if (o.name == "sgd") {
    return std::make_unique<torch::optim::SGD>(std::move(params),
                                               torch::optim::SGDOptions(o.lr)
                                                   .momentum(o.momentum)
                                                   .nesterov(o.nesterov)
                                                   .weight_decay(o.weight_decay));
  }
  if (o.name == "adamw") {
    return std::make_unique<torch::optim::AdamW>(std::move(params),
                                                 torch::optim::AdamWOptions(o.lr)
                                                     .betas({o.beta1, o.beta2})
                                                     .eps(o.eps)
                                                     .weight_decay(o.weight_decay));
  }
  throw UsageError("unknown optimizer '" + o.name + "' (expected sgd or adamw)");
}

double lr_at(const ScheduleOptions& s, double base_lr, std::int64_t step, std::int64_t total_steps,
             std::int64_t steps_per_epoch) {
  constexpr double kPi = 3.14159265358979323846;
  const double warmup = s.warmup_epochs * static_cast<double>(steps_per_epoch);
  const double t = static_cast<double>(step);
  if (s.name == "onecycle") {
    // torch OneCycleLR (anneal_strategy="cos", div_factor=25, final_div_factor=1e4,
    // three_phase=False): rise from lr/25 to lr over pct_start, then fall to lr/25/1e4.
    const double initial = base_lr / 25.0;
    const double final_lr = initial / 1e4;
    const double up_end = s.pct_start * static_cast<double>(total_steps) - 1;
    const double down_end = static_cast<double>(total_steps) - 1;
    auto cos_anneal = [&](double from, double to, double pct) {
      return to + (from - to) / 2.0 * (std::cos(kPi * pct) + 1.0);
    };
    if (t <= up_end) return cos_anneal(initial, base_lr, up_end > 0 ? t / up_end : 1.0);
    double pct = down_end > up_end ? (t - up_end) / (down_end - up_end) : 1.0;
    return cos_anneal(base_lr, final_lr, std::min(1.0, pct));
  }
  if (warmup > 0 && t < warmup) return base_lr * (t + 1) / warmup;
  if (s.name == "constant") return base_lr;
  if (s.name == "step") {
    const double epoch = t / static_cast<double>(std::max<std::int64_t>(1, steps_per_epoch));
    return base_lr * std::pow(s.gamma, std::floor(epoch / s.step_epochs));
  }
  if (s.name == "cosine") {
    const double span = std::max(1.0, static_cast<double>(total_steps) - warmup);
    const double pct = std::min(1.0, (t - warmup) / span);
    return s.min_lr + (base_lr - s.min_lr) * 0.5 * (1.0 + std::cos(kPi * pct));
  }
  throw UsageError("unknown schedule '" + s.name + "'");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

}  // namespace tdml::train
