#include "train_options.h"

#include "command.h"
#include "option_groups.h"
#include "tdml/util/error.h"
#include "tdml/ledger/train_ledger.h"

namespace tdml::app {

void add_train_options(cxxopts::Options& opts) {
  train::TrainOptions d;
  auto s = [](auto v) { return std::to_string(v); };
  add_model_data_options(opts, d.model, "the study's model");
  opts.add_options("Model and data")
      ("augment", "Random crop + flip (--augment=false to disable)", cxxopts::value<bool>()->default_value("true"))
      ("limit-train-batches", "Stop each epoch after N batches (0 = all)", cxxopts::value<std::int64_t>()->default_value("0"))
      ("limit-test-batches", "Evaluate on N test batches (0 = all)", cxxopts::value<std::int64_t>()->default_value("0"))
      ("eval-batch-size", "Images per evaluation batch", cxxopts::value<std::int64_t>()->default_value(s(d.eval_batch_size)));
  opts.add_options("Optimisation")
      ("epochs", "Epochs", cxxopts::value<int>()->default_value(s(d.epochs)))
      ("batch-size", "Batch size (per rank)", cxxopts::value<std::int64_t>()->default_value(s(d.batch_size)))
      ("grad-accum", "Micro-batches per optimizer step (gradient accumulation)", cxxopts::value<int>()->default_value("1"))
      ("optimizer", "sgd | adamw", cxxopts::value<std::string>()->default_value(d.optim.name))
      ("lr", "Peak learning rate (default: 0.1 with sgd, 3e-4 with adamw)", cxxopts::value<double>())
      ("momentum", "SGD momentum", cxxopts::value<double>()->default_value("0.9"))
      ("nesterov", "Nesterov momentum", cxxopts::value<bool>()->default_value("false"))
      ("weight-decay", "Weight decay (default: 5e-4 with sgd, 1e-4 with adamw)", cxxopts::value<double>())
      ("schedule", "constant | step | cosine | onecycle", cxxopts::value<std::string>()->default_value(d.schedule.name))
      ("warmup-epochs", "Linear warmup (epochs, fractions allowed)", cxxopts::value<double>()->default_value("0"))
      ("step-epochs", "step schedule: decay every N epochs", cxxopts::value<double>()->default_value("30"))
      ("gamma", "step schedule: decay factor", cxxopts::value<double>()->default_value("0.1"));
  add_performance_options(opts);
  opts.add_options("Performance")
      ("prefetch", "Batches prepared ahead", cxxopts::value<int>()->default_value(s(d.prefetch)))
      ("workers", "Loader threads preparing batches (0 = in the training thread)", cxxopts::value<int>()->default_value(s(d.loader_workers)));
  add_output_options(opts, d.out_dir, "metrics.json, train.log, checkpoint.pt");
  opts.add_options("Output")
      ("save", "Write DIR/checkpoint.pt after every epoch", cxxopts::value<bool>()->default_value("false"))
      ("save-every", "Every N optimizer steps, a step checkpoint in DIR/checkpoints/ (weights, optimizer, RNG, loader position): resuming is then step-exact (0 = off)", cxxopts::value<std::int64_t>()->default_value("0"))
      ("resume", "Continue from the newest checkpoint in DIR (error if none); --resume auto: from the newest if there is one, else start afresh (for restarts)", cxxopts::value<std::string>()->default_value("no")->implicit_value("yes"));
  // `--resume auto` (a word after a flag with an implicit value) arrives as a positional.
  opts.add_options(kHiddenGroup)("resume-word", "", cxxopts::value<std::vector<std::string>>());
  opts.parse_positional({"resume-word"});
}

ResumeFlag resume_flag_from(const cxxopts::ParseResult& r) {
  std::string v = r["resume"].as<std::string>();
  if (r.count("resume-word")) {
    const auto words = r["resume-word"].as<std::vector<std::string>>();
    if (words.size() != 1 || words[0] != "auto" || !r.count("resume") || v != "yes") {
      throw UsageError("unexpected argument '" + words.front() + "' (see 'tdml train --help')");
    }
    v = "auto";
  }
  if (v == "no" || v == "false") return {false, false};
  if (v == "yes" || v == "true") return {true, false};
  if (v == "auto") return {true, true};
  throw UsageError("--resume " + v + ": expected --resume (the newest checkpoint) or --resume auto");
}

void add_train_ledger_options(cxxopts::Options& opts) { add_ledger_options(opts, "epoch"); }

train::Observers train_observers_from(const cxxopts::ParseResult& r) {
  const auto flags = ledger_flags_from(r);
  ledger::TrainLedgerOptions lo;
  lo.path = flags.path;
  lo.keys_dir = flags.keys;
  lo.scheme = flags.scheme;
  lo.fresh_keys_dir = r["out"].as<std::string>() + "/keys";
  lo.resume = resume_flag_from(r).resume;
  ledger::validate(lo);
  train::Observers out;
  if (!lo.path.empty()) out.push_back(std::make_shared<ledger::TrainLedger>(lo));
  return out;
}

void apply_shared_groups(const cxxopts::ParseResult& r, train::TrainOptions& o) {
  const auto md = model_data_from(r);
  o.model = md.model;
  o.data = md.data;
  o.seed = md.seed;
  const auto perf = performance_from(r);
  o.device = perf.device;
  o.threads = perf.threads;
  o.amp = perf.amp;
  o.channels_last = perf.channels_last;
}

train::TrainOptions train_options_from(const cxxopts::ParseResult& r) {
  train::TrainOptions o;
  apply_shared_groups(r, o);
  o.augment = r["augment"].as<bool>();
  o.limit_train_batches = r["limit-train-batches"].as<std::int64_t>();
  o.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  o.eval_batch_size = r["eval-batch-size"].as<std::int64_t>();
  o.epochs = r["epochs"].as<int>();
  o.batch_size = r["batch-size"].as<std::int64_t>();
  o.grad_accum = r["grad-accum"].as<int>();
  o.optim.name = r["optimizer"].as<std::string>();
  const bool adamw = o.optim.name == "adamw";
  o.optim.lr = r.count("lr") ? r["lr"].as<double>() : adamw ? 3e-4 : 0.1;
  o.optim.momentum = r["momentum"].as<double>();
  o.optim.nesterov = r["nesterov"].as<bool>();
  o.optim.weight_decay = r.count("weight-decay") ? r["weight-decay"].as<double>()
                         : adamw                 ? 1e-4
                                                 : 5e-4;
  o.schedule.name = r["schedule"].as<std::string>();
  o.schedule.warmup_epochs = r["warmup-epochs"].as<double>();
  o.schedule.step_epochs = r["step-epochs"].as<double>();
  o.schedule.gamma = r["gamma"].as<double>();
  o.prefetch = r["prefetch"].as<int>();
  o.loader_workers = r["workers"].as<int>();
  o.out_dir = r["out"].as<std::string>();
  o.save = r["save"].as<bool>();
  const auto resume = resume_flag_from(r);
  o.resume = resume.resume;
  o.resume_auto = resume.if_any;
  o.save_every = r["save-every"].as<std::int64_t>();
  return o;
}

}  // namespace tdml::app
