#include "tdml/train/trainer.h"

#include <cmath>
#include <filesystem>

#include "tdml/data/cifar10.h"
#include "tdml/data/source.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/state_dict.h"
#include "tdml/train/checkpoint.h"
#include "tdml/train/optim.h"
#include "tdml/util/allocator.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "tdml/util/system.h"
#include "util/timer.h"

namespace tdml::train {

void EpochTotals::add(const torch::Tensor& logits, const torch::Tensor& labels,
                      const torch::Tensor& loss) {
  auto n = labels.size(0);
  auto l = loss.detach().to(torch::kFloat) * static_cast<double>(n);
  auto c = (logits.detach().argmax(1) == labels).sum();
  loss_sum = loss_sum.defined() ? loss_sum + l : l;
  correct = correct.defined() ? correct + c : c;
  samples += n;
  steps += 1;
}

void PlainStep::step(const data::Batch& batch, EpochTotals& totals) {
  if (micro_index() == 0) s_.optimizer.zero_grad();
  before_forward();
  torch::Tensor logits, loss;
  {
    AutocastGuard autocast(s_.amp, s_.device.type());
    logits = s_.model.forward(batch.images);
    loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), batch.labels);
  }
  auto scaled = s_.scaler.scale(loss);
  if (micro_count() > 1) scaled = scaled / static_cast<double>(micro_count());
  scaled.backward();
  after_backward();
  if (last_micro_step()) s_.scaler.step(s_.optimizer);
  totals.add(logits, batch.labels, loss);
}

void to_channels_last(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

namespace {

// Writes the first 16 test images (CIFAR records) and their predictions for the picture grid.
nlohmann::json sample_predictions(const std::string& dir, models::Model& model,
                                  const data::Dataset& test, const EvalOptions& eo) {
  const std::int64_t n = std::min<std::int64_t>(16, test.size());
  auto idx = torch::arange(n, torch::kLong);
  data::write_cifar10_bin(dir + "/samples.bin", test.subset(idx));
  model.eval();
  auto pred = predict_first([&](const torch::Tensor& x) { return model.forward(x); }, test, n, eo);
  std::vector<std::int64_t> p(pred.data_ptr<std::int64_t>(), pred.data_ptr<std::int64_t>() + n);
  auto lab = test.labels.slice(0, 0, n).contiguous();
  std::vector<std::int64_t> l(lab.data_ptr<std::int64_t>(), lab.data_ptr<std::int64_t>() + n);
  return {{"file", "samples.bin"}, {"labels", l}, {"predictions", p}};
}

// Everything a run trains with, built once by make_session (model, optimizer, data, loader).
struct Session {
  int threads = 0;
  torch::Device device{torch::kCPU};
  AmpMode amp = AmpMode::kOff;
  data::DataSplits splits;
  std::shared_ptr<models::Model> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<GradScaler> scaler;
  data::LoaderOptions lo;
  std::unique_ptr<data::Loader> loader;
  EvalOptions eo;
  std::unique_ptr<StepStrategy> strategy;
};

data::LoaderOptions loader_options(const TrainOptions& opts, const TrainContext& ctx,
                                   const torch::Device& device) {
  data::LoaderOptions lo;
  lo.batch_size = opts.batch_size;
  lo.shuffle = true;
  lo.drop_last = ctx.world > 1;  // equal step counts on every rank
  lo.augment = opts.augment;
  lo.seed = opts.seed;
  lo.rank = ctx.shard_train_data ? ctx.rank : 0;
  lo.world = ctx.shard_train_data ? ctx.world : 1;
  lo.prefetch = opts.prefetch;
  lo.workers = opts.loader_workers;
  lo.device = device;
  lo.channels_last = opts.channels_last;
  lo.limit_batches = opts.limit_train_batches;
  lo.labels_only = ctx.labels_only_train_data;
  return lo;
}

EvalOptions eval_options(const TrainOptions& opts, const TrainContext& ctx, const Session& s) {
  EvalOptions eo;
  eo.batch_size = opts.eval_batch_size;
  eo.limit_batches = opts.limit_test_batches;
  eo.device = s.device;
  eo.amp = s.amp;
  eo.channels_last = opts.channels_last;
  eo.rank = ctx.rank;
  eo.world = ctx.world;
  eo.all_reduce_sum = ctx.all_reduce_sum;
  return eo;
}

std::unique_ptr<Session> make_session(const TrainOptions& opts, const TrainContext& ctx) {
  auto s = std::make_unique<Session>();
  s->threads = util::set_threads(opts.threads);
  s->device = util::resolve_device(opts.device);
  s->amp = parse_amp(opts.amp, s->device);
  s->splits = data::load_data(opts.data);
  spdlog::info("data: {} ({} train, {} test)", s->splits.description, s->splits.train.size(),
               s->splits.test.size());
  torch::manual_seed(opts.seed);
  s->model = models::make_model(opts.model, s->splits.train.num_classes);
  s->model->to(s->device);
  if (opts.channels_last) to_channels_last(*s->model);
  s->optimizer = make_optimizer(s->model->parameters(), opts.optim);
  s->scaler = std::make_unique<GradScaler>(s->amp == AmpMode::kFp16, s->device);
  s->lo = loader_options(opts, ctx, s->device);
  s->loader = std::make_unique<data::Loader>(s->splits.train, s->lo);
  s->eo = eval_options(opts, ctx, *s);
  StepSetup setup{*s->model, *s->optimizer, s->device, s->amp, *s->scaler};
  s->strategy = ctx.make_strategy ? ctx.make_strategy(setup) : std::make_unique<PlainStep>(setup);
  if (opts.grad_accum > 1 && !s->strategy->supports_grad_accum()) {
    throw UsageError("--grad-accum " + std::to_string(opts.grad_accum) +
                     " is not supported by this training mode");
  }
  return s;
}

// Where a run starts: from scratch, or from the checkpoint it resumes.
struct StartPoint {
  CheckpointMeta meta;  // all 0 from scratch
  StateTensors state;   // the RNG streams, grad scaler and unfinished epoch's sums saved
  std::string from;     // the folder resumed from; "" from scratch
};

// metrics.json of the writer rank: a new document, or on resume the previous one with the
// epochs after the checkpoint dropped.
std::unique_ptr<metrics::MetricsFile> open_metrics(const TrainOptions& opts,
                                                   const TrainContext& ctx, const Session& s,
                                                   const StartPoint& start) {
  std::unique_ptr<metrics::MetricsFile> mf;
  const int epochs_done = start.meta.epochs_done;
  if (!start.from.empty()) {
    mf = std::make_unique<metrics::MetricsFile>(metrics::MetricsFile::reopen(opts.out_dir));
    nlohmann::json kept = nlohmann::json::array();
    for (auto& e : mf->doc()["epochs"]) {
      if (e.value("epoch", 0) <= epochs_done) kept.push_back(e);
    }
    mf->doc()["epochs"] = kept;
  } else {
    mf = std::make_unique<metrics::MetricsFile>(opts.out_dir, "train");
    mf->doc()["epochs"] = nlohmann::json::array();
  }
  auto& d = mf->doc();
  d["config"] = to_json(opts);
  d["run"] = ctx.run_info;
  d["run"]["threads"] = s.threads;
  d["run"]["allocator"] = util::allocator_mode();
  d["run"]["device"] = s.device.str();
  d["run"]["amp"] = amp_name(s.amp);
  d["run"]["save_every"] = opts.save_every;
  if (!start.from.empty()) {
    if (!d.contains("resumes")) d["resumes"] = nlohmann::json::array();
    d["resumes"].push_back({{"from", start.from},
                            {"global_step", start.meta.global_step},
                            {"epoch", epochs_done + 1},
                            {"batch", start.meta.epoch_batches},
                            {"restart_count", ctx.restart_count},
                            {"at", util::utc_timestamp()}});
  }
  d["data"] = {{"description", s.splits.description},
               {"synthetic", s.splits.synthetic},
               {"train_samples", s.splits.train.size()},
               {"test_samples", s.splits.test.size()}};
  d["model"] = {{"name", opts.model},
                {"parameters", models::parameter_count(*s.model)},
                {"parameter_bytes", models::parameter_bytes(*s.model)}};
  // CPU: the peak RSS of this epoch where the kernel lets it be reset, else since start.
  d["memory_kind"] = util::peak_memory_kind(s.device);
  if (auto extras = s.strategy->document_extras(); extras.is_object()) d.update(extras);
  return mf;
}

torch::Tensor generator_state(const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const torch::Device& device, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// The state besides weights and optimizer that the rest of a run depends on. The loader needs
// none: its order and augmentation are functions of (seed, epoch, rank, batch).
StateTensors run_state(const Session& s) {
  StateTensors st;
  st["rng_cpu"] = generator_state(torch::kCPU);
  if (!s.device.is_cpu()) st["rng_device"] = generator_state(s.device);
  if (s.scaler->enabled()) {
    auto [scale, growth] = s.scaler->state();
    st["scaler_scale"] = scale;
    st["scaler_growth"] = growth;
  }
  return st;
}

void restore_run_state(Session& s, const StateTensors& st) {
  auto get = [&](const char* name) {
    auto it = st.find(name);
    return it == st.end() ? torch::Tensor() : it->second;
  };
  if (auto t = get("rng_cpu"); t.defined()) set_generator_state(torch::kCPU, t);
  if (auto t = get("rng_device"); t.defined() && !s.device.is_cpu()) {
    set_generator_state(s.device, t);
  }
  if (auto scale = get("scaler_scale"), growth = get("scaler_growth");
      scale.defined() && growth.defined()) {
    s.scaler->load_state(scale, growth);
  }
}

// --resume: the newest checkpoint that loads (a step checkpoint or the epoch checkpoint; an
// unreadable one is reported and the next older tried). Every rank must find the same one.
StartPoint find_start(Session& s, const TrainOptions& opts, const TrainContext& ctx) {
  StartPoint sp;
  if (!opts.resume) return sp;
  const int files = ctx.every_rank_checkpoints ? ctx.rank : 0;
  const auto candidates = resume_candidates(opts.out_dir, files, !ctx.every_rank_checkpoints);
  std::string first_error;
  for (const auto& dir : candidates) {
    try {
      sp.meta = load_checkpoint(dir, *s.model, *s.optimizer, &sp.state, files);
      sp.from = dir;
      break;
    } catch (const Error& e) {
      spdlog::warn("cannot resume from {}: {}", dir, e.what());
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (sp.from.empty() && !first_error.empty()) {
    throw Error(candidates.size() > 1 ? first_error + " (and no older checkpoint loads)"
                                      : first_error);
  }
  if (sp.from.empty() && !opts.resume_auto) {
    throw Error("cannot resume: " + opts.out_dir +
                " holds no checkpoint (checkpoint.pt is missing; was the run started with --save "
                "or --save-every?)");
  }
  if (ctx.all_reduce_sum && ctx.world > 1) {
    const double mine = sp.from.empty() ? -1.0 : double(sp.meta.global_step);
    auto t = torch::tensor({mine, mine * mine}, torch::kDouble);
    ctx.all_reduce_sum(t);
    if (t[0].item<double>() != mine * ctx.world || t[1].item<double>() != mine * mine * ctx.world) {
      throw Error("cannot resume: the ranks found different checkpoints in " + opts.out_dir +
                  " (every rank must see the same run folder)");
    }
  }
  if (sp.from.empty()) {
    spdlog::info("--resume auto: no checkpoint in {} yet, starting from scratch", opts.out_dir);
    return sp;
  }
  restore_run_state(s, sp.state);
  spdlog::info("resumed from {} at step {} (epoch {}, batch {})", sp.from, sp.meta.global_step,
               sp.meta.epochs_done + 1, sp.meta.epoch_batches);
  return sp;
}

// The unfinished epoch's sums of every rank whose checkpoint this rank writes, one row each:
// (loss sum, correct, samples, steps). Data parallel: rank 0 writes for all, so the rows are
// gathered (an all-reduce of one-hot rows: exact); otherwise this rank's own row.
torch::Tensor epoch_sums(const EpochTotals& totals, const TrainContext& ctx) {
  const bool gather = !ctx.every_rank_checkpoints && ctx.all_reduce_sum && ctx.world > 1;
  auto rows = torch::zeros({gather ? ctx.world : 1, 4}, torch::kDouble);
  auto row = rows[gather ? ctx.rank : 0];
  row[0] = totals.loss_sum.defined() ? totals.loss_sum.item<double>() : 0.0;  // float: exact
  row[1] = totals.correct.defined() ? double(totals.correct.item<std::int64_t>()) : 0.0;
  row[2] = double(totals.samples);
  row[3] = double(totals.steps);
  if (gather) ctx.all_reduce_sum(rows);
  return rows;
}

// This rank's sums back from what epoch_sums saved (as the accumulation left them: a float
// loss sum and an int64 count on the device).
void restore_epoch_sums(EpochTotals& totals, const torch::Tensor& rows, const TrainContext& ctx,
                        const torch::Device& device) {
  const int r = rows.size(0) == 1 ? 0 : ctx.rank;
  TDML_CHECK(r < rows.size(0), "checkpoint: no epoch sums for rank " << r);
  const auto row = rows[r];
  if (row[3].item<double>() == 0) return;  // no step of the epoch taken yet
  totals.loss_sum = torch::scalar_tensor(row[0].item<double>(), torch::kFloat).to(device);
  totals.correct =
      torch::scalar_tensor(static_cast<std::int64_t>(row[1].item<double>()), torch::kLong)
          .to(device);
  totals.samples = static_cast<std::int64_t>(row[2].item<double>());
  totals.steps = static_cast<std::int64_t>(row[3].item<double>());
}

// A step checkpoint after optimizer step `step`, `batches` batches into `epoch`: the saving
// rank(s) write their files, then rank 0 publishes the folder. Every rank calls it.
void save_step(Session& s, const TrainOptions& opts, const TrainContext& ctx, int epoch,
               std::int64_t batches, const EpochTotals& totals, double seconds,
               std::int64_t step) {
  const auto sums = epoch_sums(totals, ctx);
  if (ctx.rank == 0 || ctx.every_rank_checkpoints) {
    CheckpointMeta meta{opts.model, epoch - 1, step, weights_fingerprint(*s.model)};
    meta.epoch_batches = batches;
    meta.epoch_seconds = seconds;
    auto st = run_state(s);
    st["epoch_sums"] = sums;
    save_checkpoint(partial_step_dir(opts.out_dir, step), *s.model, *s.optimizer, meta, st,
                    ctx.every_rank_checkpoints ? ctx.rank : 0);
  }
  if (ctx.every_rank_checkpoints && ctx.all_reduce_sum) {
    auto written = torch::zeros({1}, torch::kDouble);  // a barrier: every part is on disk
    ctx.all_reduce_sum(written);
  }
  if (ctx.rank == 0) publish_step_checkpoint(opts.out_dir, step);
}

// Where the run is in its optimizer steps (K micro-batches a step; a shorter last group).
struct StepCount {
  std::int64_t batches_per_epoch = 0, accum = 1, steps_per_epoch = 0, total_steps = 0;
  std::int64_t global_step = 0;
};

// One epoch's training pass; returns the train-side part of its record. `start` resumes it
// part-way (the checkpoint's batches and sums); null or another epoch's: from its first batch.
nlohmann::json train_epoch(Session& s, const TrainOptions& opts, const TrainContext& ctx,
                           int epoch, StepCount& sc, const StartPoint* start) {
  util::reset_peak_memory(s.device);
  s.model->train();
  s.strategy->start_epoch();
  EpochTotals totals;
  std::int64_t first = 0;
  double earlier_s = 0;  // train seconds of this epoch before the resumed checkpoint
  if (start && !start->from.empty() && start->meta.epochs_done + 1 == epoch) {
    first = start->meta.epoch_batches;
    earlier_s = start->meta.epoch_seconds;
    if (auto it = start->state.find("epoch_sums"); it != start->state.end()) {
      restore_epoch_sums(totals, it->second, ctx, s.device);
    }
  }
  s.loader->start_epoch(epoch, first);
  util::Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(opts.epochs),
                          sc.batches_per_epoch - first, "img");
  util::Stopwatch clock;
  double lr = 0, checkpoint_s = 0;
  std::int64_t checkpoints = 0;
  for (std::int64_t b = first; auto batch = s.loader->next(); ++b) {
    const std::int64_t group = b / sc.accum * sc.accum;
    const int index = static_cast<int>(b - group);
    const int count = static_cast<int>(std::min(sc.accum, sc.batches_per_epoch - group));
    if (index == 0) {
      lr = lr_at(opts.schedule, opts.optim.lr, sc.global_step, sc.total_steps, sc.steps_per_epoch);
      set_lr(*s.optimizer, lr);
    }
    s.strategy->set_micro_step(index, count);
    s.strategy->step(*batch, totals);
    if (index + 1 == count) {
      ++sc.global_step;
      if (opts.save_every > 0 && sc.global_step % opts.save_every == 0) {
        util::Stopwatch save_clock;
        save_step(s, opts, ctx, epoch, b + 1, totals, earlier_s + clock.seconds(), sc.global_step);
        checkpoint_s += save_clock.seconds();
        ++checkpoints;
      }
    }
    progress.tick(1, batch->labels.size(0) * s.lo.world);
  }
  util::synchronize(s.device);
  const double train_s = earlier_s + clock.seconds();
  progress.finish();
  // Global train loss/accuracy and samples over all ranks.
  auto t = torch::tensor({totals.loss_sum.defined() ? totals.loss_sum.item<double>() : 0.0,
                          totals.correct.defined() ? totals.correct.item<double>() : 0.0,
                          double(totals.samples), train_s},
                         torch::kDouble);
  if (ctx.all_reduce_sum) ctx.all_reduce_sum(t);
  const double samples = t[2].item<double>();
  nlohmann::json rec = {
      {"epoch", epoch},
      {"lr", lr},
      {"train_loss", samples ? t[0].item<double>() / samples : 0.0},
      {"train_acc", samples ? t[1].item<double>() / samples : 0.0},
      {"train_samples", static_cast<std::int64_t>(samples)},
      {"steps", totals.steps},
      {"epoch_time_s", train_s},
      {"samples_per_s", train_s > 0 ? samples / train_s : 0.0},
      {"data_wait_s", s.loader->wait_seconds()},
      {"compute_s", train_s - s.loader->wait_seconds()},
  };
  if (ctx.world > 1) rec["epoch_time_s_mean_over_ranks"] = t[3].item<double>() / ctx.world;
  if (opts.save_every > 0) {
    rec["step_checkpoints"] = checkpoints;
    rec["step_checkpoint_s"] = checkpoint_s;
  }
  if (first > 0) rec["resumed_at_batch"] = first;
  return rec;
}

// Evaluation after an epoch, added to its record.
EvalResult evaluate_epoch(Session& s, const TrainOptions& opts, nlohmann::json& rec) {
  s.strategy->end_epoch();
  s.model->eval();
  util::Stopwatch eval_clock;
  auto ev = evaluate([&](const torch::Tensor& x) { return s.model->forward(x); }, s.splits.test,
                     s.eo);
  rec["test_loss"] = ev.loss;
  rec["test_acc"] = ev.accuracy;
  rec["eval_time_s"] = eval_clock.seconds();
  rec["peak_memory_bytes"] = util::peak_memory_bytes(s.device);
  if (auto extra = s.strategy->epoch_stats(); !extra.is_null()) rec["strategy"] = extra;
  const double train_s = rec["epoch_time_s"].get<double>();
  spdlog::info(
      "epoch {}/{}: train loss {:.4f} acc {:.3f} | test loss {:.4f} acc {:.3f} | "
      "{:.1f} s, {:.0f} img/s, data wait {:.1f}%",
      rec["epoch"].get<int>(), opts.epochs, rec["train_loss"].get<double>(),
      rec["train_acc"].get<double>(), ev.loss, ev.accuracy, train_s,
      rec["samples_per_s"].get<double>(),
      train_s > 0 ? 100.0 * rec["data_wait_s"].get<double>() / train_s : 0.0);
  return ev;
}

}  // namespace

RunResult run_training(const TrainOptions& opts, const TrainContext& ctx) {
  validate(opts);
  const bool writer = ctx.rank == 0;
  auto s = make_session(opts, ctx);
  StepCount sc;
  const StartPoint start = find_start(*s, opts, ctx);
  const int first_epoch = start.meta.epochs_done + 1;
  sc.global_step = start.meta.global_step;
  std::unique_ptr<metrics::MetricsFile> mf;
  if (writer) {
    mf = open_metrics(opts, ctx, *s, start);
    util::add_log_file(opts.out_dir + "/train.log");
    for (auto& o : ctx.observers) o->on_start(mf->doc());
    mf->flush();
  }
  spdlog::info("training {} ({} params) on {} for {} epochs, batch {} x {} rank(s), amp {}",
               opts.model, models::parameter_count(*s->model), s->device.str(), opts.epochs,
               opts.batch_size, ctx.world, amp_name(s->amp));
  sc.batches_per_epoch = s->loader->num_batches();
  sc.accum = opts.grad_accum;
  sc.steps_per_epoch = (sc.batches_per_epoch + sc.accum - 1) / sc.accum;
  sc.total_steps = sc.steps_per_epoch * opts.epochs;
  RunResult result;
  try {
    for (int epoch = first_epoch; epoch <= opts.epochs; ++epoch) {
      auto rec = train_epoch(*s, opts, ctx, epoch, sc, &start);
      result.final_eval = evaluate_epoch(*s, opts, rec);
      if (ctx.on_epoch_end) ctx.on_epoch_end(rec, *s->model);
      if (!writer) continue;
      if (opts.save) {
        save_checkpoint(opts.out_dir, *s->model, *s->optimizer,
                        {opts.model, epoch, sc.global_step, weights_fingerprint(*s->model)});
      }
      for (auto& o : ctx.observers) o->on_epoch_end({epoch, sc.global_step, *s->model, rec});
      mf->doc()["epochs"].push_back(rec);
      mf->doc()["final"] = result.final_eval.to_json();
      mf->flush();
    }
    if (writer) {
      mf->doc()["samples"] = sample_predictions(opts.out_dir, *s->model, s->splits.test, s->eo);
      mf->finish("completed");
      result.metrics = mf->doc();
      spdlog::info("metrics: {}", mf->path());
    }
  } catch (const std::exception& e) {
    if (writer && mf) mf->finish("failed", e.what());
    throw;
  }
  return result;
}

}  // namespace tdml::train
