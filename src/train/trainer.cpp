#include "tdml/train/trainer.h"

#include <cmath>
#include <filesystem>

#include "tdml/data/cifar10.h"
#include "tdml/data/source.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/run_ledger.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/state_dict.h"
#include "tdml/train/checkpoint.h"
#include "tdml/util/allocator.h"
#include "tdml/train/optim.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "tdml/util/system.h"
#include "tdml/util/timer.h"

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

}  // namespace

RunResult run_training(const TrainOptions& opts, const TrainContext& ctx) {
  validate(opts);
  const bool writer = ctx.rank == 0;
  const int threads = util::set_threads(opts.threads);
  const torch::Device device = util::resolve_device(opts.device);
  const AmpMode amp = parse_amp(opts.amp, device);

  auto splits = data::load_data(opts.data);
  spdlog::info("data: {} ({} train, {} test)", splits.description, splits.train.size(),
               splits.test.size());

  torch::manual_seed(opts.seed);
  auto model = models::make_model(opts.model, splits.train.num_classes);
  model->to(device);
  if (opts.channels_last) to_channels_last(*model);
  auto optimizer = make_optimizer(model->parameters(), opts.optim);
  GradScaler scaler(amp == AmpMode::kFp16, device);

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
  data::Loader loader(splits.train, lo);

  EvalOptions eo;
  eo.batch_size = opts.eval_batch_size;
  eo.limit_batches = opts.limit_test_batches;
  eo.device = device;
  eo.amp = amp;
  eo.channels_last = opts.channels_last;
  eo.rank = ctx.rank;
  eo.world = ctx.world;
  eo.all_reduce_sum = ctx.all_reduce_sum;

  StepSetup setup{*model, *optimizer, device, amp, scaler};
  auto strategy = ctx.make_strategy ? ctx.make_strategy(setup) : std::make_unique<PlainStep>(setup);
  if (opts.grad_accum > 1 && !strategy->supports_grad_accum()) {
    throw UsageError("--grad-accum " + std::to_string(opts.grad_accum) +
                     " is not supported by this training mode");
  }

  // Metrics document (rank 0 writes it); resume continues the previous one.
  int first_epoch = 1;
  std::int64_t global_step = 0;
  std::unique_ptr<metrics::MetricsFile> mf;
  if (opts.resume) {
    auto meta = load_checkpoint(opts.out_dir, *model, *optimizer);
    first_epoch = meta.epochs_done + 1;
    global_step = meta.global_step;
    spdlog::info("resumed from {} after epoch {}", opts.out_dir, meta.epochs_done);
    if (writer) {
      mf = std::make_unique<metrics::MetricsFile>(metrics::MetricsFile::reopen(opts.out_dir));
      auto& eps = mf->doc()["epochs"];
      nlohmann::json kept = nlohmann::json::array();
      for (auto& e : eps) {
        if (e.value("epoch", 0) <= meta.epochs_done) kept.push_back(e);
      }
      eps = kept;
    }
  } else if (writer) {
    mf = std::make_unique<metrics::MetricsFile>(opts.out_dir, "train");
    mf->doc()["epochs"] = nlohmann::json::array();
  }
  if (writer) {
    util::add_log_file(opts.out_dir + "/train.log");
    auto& d = mf->doc();
    d["config"] = to_json(opts);
    d["run"] = ctx.run_info;
    d["run"]["threads"] = threads;
    d["run"]["allocator"] = util::allocator_mode();
    d["run"]["device"] = device.str();
    d["run"]["amp"] = amp_name(amp);
    d["data"] = {{"description", splits.description},
                 {"synthetic", splits.synthetic},
                 {"train_samples", splits.train.size()},
                 {"test_samples", splits.test.size()}};
    d["model"] = {{"name", opts.model},
                  {"parameters", models::parameter_count(*model)},
                  {"parameter_bytes", models::parameter_bytes(*model)}};
    d["memory_kind"] = util::peak_memory_kind(device);
    if (auto extras = strategy->document_extras(); extras.is_object()) d.update(extras);
    mf->flush();
  }
  // The ledger (rank 0): one signed block per epoch, appended after the checkpoint is saved.
  ledger::RunLedger run_ledger;
  if (writer && !opts.ledger.empty()) {
    ledger::RunLedgerOptions lo;
    lo.path = opts.ledger;
    lo.keys_dir = opts.ledger_keys;
    lo.scheme = opts.sign;
    lo.fresh_keys_dir = opts.out_dir + "/keys";
    run_ledger = ledger::open_run_ledger(lo);
    mf->doc()["ledger"] = {{"path", opts.ledger}, {"keys", run_ledger.keys_dir}};
    mf->flush();
  }
  const std::string config_hash = ledger::config_hash(to_json(opts));

  spdlog::info("training {} ({} params) on {} for {} epochs, batch {} x {} rank(s), amp {}",
               opts.model, models::parameter_count(*model), device.str(), opts.epochs,
               opts.batch_size, ctx.world, amp_name(amp));

  // Optimizer steps: K micro-batches each; a shorter last group at the end of an epoch.
  const std::int64_t batches_per_epoch = loader.num_batches();
  const std::int64_t accum = opts.grad_accum;
  const std::int64_t steps_per_epoch = (batches_per_epoch + accum - 1) / accum;
  const std::int64_t total_steps = steps_per_epoch * opts.epochs;
  RunResult result;
  try {
    for (int epoch = first_epoch; epoch <= opts.epochs; ++epoch) {
      util::reset_peak_memory(device);
      model->train();
      strategy->start_epoch();
      loader.start_epoch(epoch);
      EpochTotals totals;
      util::Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(opts.epochs),
                              batches_per_epoch, "img");
      util::Stopwatch clock;
      double lr = 0;
      for (std::int64_t b = 0; auto batch = loader.next(); ++b) {
        const std::int64_t group = b / accum * accum;
        const int index = static_cast<int>(b - group);
        const int count = static_cast<int>(std::min(accum, batches_per_epoch - group));
        if (index == 0) {
          lr = lr_at(opts.schedule, opts.optim.lr, global_step, total_steps, steps_per_epoch);
          set_lr(*optimizer, lr);
        }
        strategy->set_micro_step(index, count);
        strategy->step(*batch, totals);
        if (index + 1 == count) ++global_step;
        progress.tick(1, batch->labels.size(0) * lo.world);
      }
      util::synchronize(device);
      const double train_s = clock.seconds();
      progress.finish();

      // Global train loss/accuracy and samples over all ranks.
      auto t = torch::tensor({totals.loss_sum.defined() ? totals.loss_sum.item<double>() : 0.0,
                              totals.correct.defined() ? totals.correct.item<double>() : 0.0,
                              double(totals.samples), train_s},
                             torch::kDouble);
      if (ctx.all_reduce_sum) ctx.all_reduce_sum(t);
      const double samples = t[2].item<double>();
      strategy->end_epoch();
      model->eval();
      util::Stopwatch eval_clock;
      auto ev =
          evaluate([&](const torch::Tensor& x) { return model->forward(x); }, splits.test, eo);
      nlohmann::json rec = {
          {"epoch", epoch},
          {"lr", lr},
          {"train_loss", samples ? t[0].item<double>() / samples : 0.0},
          {"train_acc", samples ? t[1].item<double>() / samples : 0.0},
          {"test_loss", ev.loss},
          {"test_acc", ev.accuracy},
          {"train_samples", static_cast<std::int64_t>(samples)},
          {"steps", totals.steps},
          {"epoch_time_s", train_s},
          {"samples_per_s", train_s > 0 ? samples / train_s : 0.0},
          {"data_wait_s", loader.wait_seconds()},
          {"compute_s", train_s - loader.wait_seconds()},
          {"eval_time_s", eval_clock.seconds()},
          {"peak_memory_bytes", util::peak_memory_bytes(device)},
      };
      if (ctx.world > 1) rec["epoch_time_s_mean_over_ranks"] = t[3].item<double>() / ctx.world;
      if (auto extra = strategy->epoch_stats(); !extra.is_null()) rec["strategy"] = extra;
      spdlog::info(
          "epoch {}/{}: train loss {:.4f} acc {:.3f} | test loss {:.4f} acc {:.3f} | "
          "{:.1f} s, {:.0f} img/s, data wait {:.1f}%",
          epoch, opts.epochs, rec["train_loss"].get<double>(), rec["train_acc"].get<double>(),
          ev.loss, ev.accuracy, train_s, rec["samples_per_s"].get<double>(),
          train_s > 0 ? 100.0 * loader.wait_seconds() / train_s : 0.0);
      result.final_eval = ev;
      if (ctx.on_epoch_end) ctx.on_epoch_end(rec, *model);
      if (writer) {
        if (opts.save) {
          save_checkpoint(opts.out_dir, *model, *optimizer,
                          {opts.model, epoch, global_step, weights_fingerprint(*model)});
        }
        if (run_ledger.ledger) {
          ledger::EpochRecord block{ctx.run_info.value("mode", "single"), epoch,
                                    ledger::model_hash(models::state_dict(*model)), config_hash,
                                    rec};
          rec["ledger_block"] = run_ledger.ledger->append(block);
        }
        mf->doc()["epochs"].push_back(rec);
        mf->doc()["final"] = ev.to_json();
        mf->flush();
      }
    }
    if (writer) {
      mf->doc()["samples"] = sample_predictions(opts.out_dir, *model, splits.test, eo);
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
