#include "tdml/train/options.h"

#include "tdml/util/error.h"

namespace tdml::train {

nlohmann::json to_json(const TrainOptions& o) {
  return {
      {"model", o.model},
      {"epochs", o.epochs},
      {"batch_size", o.batch_size},
      {"grad_accum", o.grad_accum},
      {"optimizer",
       {{"name", o.optim.name},
        {"lr", o.optim.lr},
        {"momentum", o.optim.momentum},
        {"nesterov", o.optim.nesterov},
        {"weight_decay", o.optim.weight_decay},
        {"betas", {o.optim.beta1, o.optim.beta2}},
        {"eps", o.optim.eps}}},
      {"schedule",
       {{"name", o.schedule.name},
        {"warmup_epochs", o.schedule.warmup_epochs},
        {"step_epochs", o.schedule.step_epochs},
        {"gamma", o.schedule.gamma},
        {"min_lr", o.schedule.min_lr},
        {"pct_start", o.schedule.pct_start}}},
      {"augment", o.augment},
      {"seed", o.seed},
      {"threads", o.threads},
      {"device", o.device},
      {"amp", o.amp},
      {"channels_last", o.channels_last},
      {"limit_train_batches", o.limit_train_batches},
      {"limit_test_batches", o.limit_test_batches},
      {"eval_batch_size", o.eval_batch_size},
      {"data", o.data},
  };
}

void validate(const TrainOptions& o) {
  auto bad = [](const std::string& what) { throw UsageError(what); };
  if (o.epochs < 1) bad("--epochs must be >= 1");
  if (o.batch_size < 1) bad("--batch-size must be >= 1");
  if (o.grad_accum < 1) bad("--grad-accum must be >= 1");
  if (!(o.optim.lr > 0)) bad("--lr must be > 0");
  if (o.optim.name != "sgd" && o.optim.name != "adamw") {
    bad("--optimizer " + o.optim.name + ": expected sgd or adamw");
  }
  if (o.optim.momentum < 0 || o.optim.momentum >= 1) bad("--momentum must be in [0, 1)");
  if (o.optim.weight_decay < 0) bad("--weight-decay must be >= 0");
  if (o.optim.nesterov && o.optim.momentum == 0) bad("--nesterov needs --momentum > 0");
  const auto& s = o.schedule.name;
  if (s != "constant" && s != "step" && s != "cosine" && s != "onecycle") {
    bad("--schedule " + s + ": expected constant, step, cosine or onecycle");
  }
  if (o.schedule.warmup_epochs < 0 || o.schedule.warmup_epochs > o.epochs) {
    bad("--warmup-epochs must be between 0 and --epochs");
  }
  if (o.amp != "off" && o.amp != "bf16" && o.amp != "fp16") {
    bad("--amp " + o.amp + ": expected off, bf16 or fp16");
  }
  if (o.limit_train_batches < 0 || o.limit_test_batches < 0) {
    bad("--limit-*-batches must be >= 0 (0 = no limit)");
  }
  if (o.prefetch < 0 || o.loader_workers < 0) bad("--prefetch and --workers must be >= 0");
  if (o.eval_batch_size < 1) bad("--eval-batch-size must be >= 1");
  if (o.save_every < 0) bad("--save-every must be >= 0 (steps; 0 = off)");
  if (o.resume_auto && !o.resume) bad("resume_auto needs resume");
}

}  // namespace tdml::train
