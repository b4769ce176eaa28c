#include "tdml/pipeline/pipeline_step.h"

#include <algorithm>
#include <map>

#include "tdml/dist/step_hook.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::pipeline {

void validate(const PipelineOptions& o) {
  if (o.stages < 1) throw UsageError("--stages " + std::to_string(o.stages) + ": must be >= 1");
  if (o.micro_batches < 1) {
    throw UsageError("--micro-batches " + std::to_string(o.micro_batches) + ": must be >= 1");
  }
}

std::vector<std::int64_t> micro_batch_sizes(std::int64_t batch, int micro_batches) {
  TDML_CHECK(batch > 0 && micro_batches > 0,
             "cannot split a batch of " << batch << " into " << micro_batches << " micro-batches");
  const std::int64_t n = std::min<std::int64_t>(micro_batches, batch);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(n), batch / n);
  for (std::int64_t i = 0; i < batch % n; ++i) sizes[static_cast<std::size_t>(i)] += 1;
  return sizes;
}

nlohmann::json pipeline_section(const PipelineOptions& o, const std::vector<StageInfo>& info,
                                const char* mode) {
  return {{"pipeline",
           {{"mode", mode},
            {"stages", o.stages},
            {"micro_batches", o.micro_batches},
            {"schedule", schedule_name(o.schedule)},
            {"split_method", split_method_name(o.split.method)},
            {"split", to_json(info)},
            {"theoretical_bubble", theoretical_bubble(o.stages, o.micro_batches)}}}};
}

namespace {


// Mean cross-entropy of micro-batch m weighted by its share of the batch.
torch::Tensor weighted_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                            std::int64_t batch) {
  return torch::nn::functional::cross_entropy(logits.to(torch::kFloat), labels) *
         (static_cast<double>(labels.size(0)) / static_cast<double>(batch));
}

// Per-stage stats as metrics.json's epochs[i].strategy object.
nlohmann::json stats_json(const PipelineOptions& o, const std::vector<StageStats>& stats,
                          bool measured_bubble) {
  nlohmann::json stages = nlohmann::json::array();
  double idle_sum = 0;
  for (std::size_t s = 0; s < stats.size(); ++s) {
    const auto& st = stats[s];
    const double idle_fraction = st.step_s > 0 ? st.idle_s / st.step_s : 0.0;
    idle_sum += idle_fraction;
    stages.push_back({{"stage", s},
                      {"busy_s", st.busy_s},
                      {"idle_s", st.idle_s},
                      {"step_s", st.step_s},
                      {"idle_fraction", idle_fraction},
                      {"max_in_flight", st.max_in_flight},
                      {"peak_activation_bytes", st.peak_activation_bytes},
                      {"micro_batches", st.micro_batches}});
  }
  nlohmann::json out = {{"kind", "pipeline"},
                        {"schedule", schedule_name(o.schedule)},
                        {"theoretical_bubble", theoretical_bubble(o.stages, o.micro_batches)},
                        {"stages", stages}};
  out["measured_bubble"] = measured_bubble && !stats.empty()
                               ? nlohmann::json(idle_sum / static_cast<double>(stats.size()))
                               : nlohmann::json(nullptr);
  return out;
}

}  // namespace

// ---- one device ----

LocalPipelineStep::LocalPipelineStep(train::StepSetup setup, PipelineOptions options)
    : s_(setup), o_(options) {
  validate(o_);
  auto stages = split_model(s_.model, o_.stages, o_.split);
  info_ = describe_split(stages, s_.model);
  for (auto& st : stages) execs_.emplace_back(std::move(st), s_.device, s_.amp);
}

void LocalPipelineStep::step(const data::Batch& batch, train::EpochTotals& totals) {
  using Op = Action::Op;
  s_.optimizer.zero_grad();
  const std::int64_t B = batch.labels.size(0);
  const auto sizes = micro_batch_sizes(B, o_.micro_batches);
  const int M = static_cast<int>(sizes.size());
  const int S = static_cast<int>(execs_.size());
  auto images = batch.images.split_with_sizes(sizes);
  auto labels = batch.labels.split_with_sizes(sizes);

  std::vector<std::vector<Action>> plan(S);
  std::size_t remaining = 0;
  for (int s = 0; s < S; ++s) {
    plan[s] = stage_actions(o_.schedule, s, S, M);
    remaining += plan[s].size();
  }
  // inputs[s][m]: what stage s forwards for micro-batch m; grads[s][m]: its output's gradient.
  std::vector<std::vector<torch::Tensor>> inputs(S, std::vector<torch::Tensor>(M));
  std::vector<std::vector<torch::Tensor>> grads(S, std::vector<torch::Tensor>(M));
  for (int m = 0; m < M; ++m) inputs[0][m] = images[m];
  std::vector<torch::Tensor> logits(M), losses(M);
  std::vector<std::size_t> next(S, 0);

  util::Stopwatch clock;
  // One tick: every stage runs its next action if its input has arrived, as S devices would.
  while (remaining > 0) {
    bool progressed = false;
    for (int s = 0; s < S; ++s) {
      if (next[s] == plan[s].size()) continue;
      const Action a = plan[s][next[s]];
      const int m = a.micro;
      auto& ex = execs_[s];
      if (a.op == Op::kForward) {
        if (!inputs[s][m].defined()) continue;
        auto out = ex.forward(m, inputs[s][m], s > 0);
        inputs[s][m] = torch::Tensor();
        if (s + 1 < S) {
          inputs[s + 1][m] = out.detach();
        } else {
          logits[m] = out;
          losses[m] = weighted_loss(out, labels[m], B);
        }
      } else {
        if (s + 1 < S && !grads[s][m].defined()) continue;
        auto g = s + 1 < S ? ex.backward(m, grads[s][m])
                           : ex.backward_from_loss(m, s_.scaler.scale(losses[m]));
        grads[s][m] = torch::Tensor();
        if (s > 0) grads[s - 1][m] = g;
      }
      ++next[s];
      --remaining;
      progressed = true;
    }
    TDML_CHECK(progressed, "pipeline schedule " << schedule_name(o_.schedule) << " deadlocked");
  }
  const double step_s = clock.seconds();
  for (auto& ex : execs_) ex.stats().step_s += step_s;
  s_.scaler.step(s_.optimizer);

  std::vector<torch::Tensor> detached;
  for (auto& l : logits) detached.push_back(l.detach());
  totals.add(torch::cat(detached), batch.labels, torch::stack(losses).sum().detach());
}

void LocalPipelineStep::start_epoch() {
  for (auto& ex : execs_) ex.reset_stats();
}

nlohmann::json LocalPipelineStep::epoch_stats() {
  std::vector<StageStats> stats;
  for (auto& ex : execs_) {
    auto st = ex.stats();
    st.idle_s = std::max(0.0, st.step_s - st.busy_s);  // the other stages held the device
    stats.push_back(st);
  }
  return stats_json(o_, stats, false);
}

nlohmann::json LocalPipelineStep::document_extras() {
  return pipeline_section(o_, info_, "single-device");
}

// ---- one stage per rank ----

DistributedPipelineStep::DistributedPipelineStep(train::StepSetup setup, PipelineOptions options,
                                                 std::shared_ptr<dist::Comm> comm)
    : s_(setup), o_(options), comm_(std::move(comm)) {
  validate(o_);
  if (comm_->world() != o_.stages) {
    throw UsageError("pipeline: " + std::to_string(o_.stages) + " stages need as many ranks, got " +
                     std::to_string(comm_->world()) + " (use --nproc " + std::to_string(o_.stages) +
                     ")");
  }
  if (s_.amp != train::AmpMode::kOff) {
    throw UsageError("--amp: multi-process pipeline mode sends fp32 activations; use --amp off");
  }
  // auto: stages of a multi-process pipeline run at once, so the cut that balances measured
  // time is the one that keeps the bubble near theory (the parameter or study cut does not).
  if (o_.split.method == SplitMethod::kAuto) o_.split.method = SplitMethod::kTime;
  // Every rank checks the request the same way; only rank 0 times blocks (--split time) and
  // broadcasts their costs, from which every rank makes the same cut.
  SplitOptions check = o_.split;
  if (check.method == SplitMethod::kTime) check.method = SplitMethod::kParams;
  auto cuts = cuts_of(split_model(s_.model, o_.stages, check));
  if (o_.split.method != SplitMethod::kTime) {
    use_cuts(cuts);
    return;
  }
  const auto n = static_cast<std::int64_t>(s_.model.blocks().size());
  std::vector<torch::Tensor> t{torch::zeros({n}, torch::kDouble)};
  if (comm_->rank() == 0) {
    const auto measured = measure_block_times(s_.model, o_.split.time_batch, o_.split.time_repeats);
    t[0] = torch::tensor(measured, torch::kDouble);
  }
  comm_->broadcast(t, 0);
  std::vector<double> costs(t[0].data_ptr<double>(), t[0].data_ptr<double>() + n);
  cuts = balanced_cuts(costs, o_.stages);
  use_cuts(cuts);
  use_cuts(calibrate_cuts(costs, cuts));
}

void DistributedPipelineStep::use_cuts(const std::vector<int>& cuts) {
  stages_ = split_at(s_.model, cuts);
  info_ = describe_split(stages_, s_.model);
  exec_ = std::make_unique<StageExecutor>(stages_[comm_->rank()], s_.device, s_.amp);
}

std::vector<int> DistributedPipelineStep::calibrate_cuts(std::vector<double> costs,
                                                         const std::vector<int>& cuts) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> saved;  // parameters and buffers, restored after the trial
  for (const auto& p : s_.model.parameters()) saved.push_back(p.detach().clone());
  for (const auto& b : s_.model.buffers()) saved.push_back(b.detach().clone());
  const std::int64_t batch = o_.split.time_batch * o_.micro_batches;
  auto gen = at::detail::createCPUGenerator(1234);  // the same trial batch on every rank
  data::Batch trial;
  trial.images = torch::randn({batch, 3, 32, 32}, gen).to(s_.device);
  trial.labels = torch::randint(0, 10, {batch}, gen, torch::kLong).to(s_.device);
  std::vector<double> busy;
  {
    torch::AutoGradMode grad(true);
    calibrating_ = true;
    for (int k = 0; k < 2; ++k) {  // the first warms up
      exec_->reset_stats();
      train::EpochTotals totals;
      step(trial, totals);
    }
    calibrating_ = false;
    const auto rows = comm_->all_gather(torch::tensor({exec_->stats().busy_s}, torch::kDouble));
    for (const auto& r : rows) busy.push_back(r.item<double>());
  }
  std::size_t i = 0;
  for (auto& p : s_.model.parameters()) p.detach().copy_(saved[i++]);
  for (auto& b : s_.model.buffers()) b.detach().copy_(saved[i++]);
  s_.optimizer.zero_grad();
  s_.optimizer.state().clear();  // no momentum from the trial
  exec_->reset_stats();
  steps_ = 0;
  // Scale each block by its stage's measured / predicted seconds, then cut again.
  std::vector<double> factors;
  for (int s = 0; s < o_.stages; ++s) {
    const int from = cuts[s], to = s + 1 < o_.stages ? cuts[s + 1] : static_cast<int>(costs.size());
    double predicted = 0;
    for (int b = from; b < to; ++b) predicted += costs[b];
    const double f = predicted > 0 && busy[s] > 0 ? busy[s] / o_.micro_batches / predicted : 1.0;
    factors.push_back(f);
    for (int b = from; b < to; ++b) costs[b] *= f;
  }
  const auto calibrated = balanced_cuts(costs, o_.stages);
  calibration_ = {{"measured_cuts", cuts},
                  {"trial_busy_s", busy},
                  {"stage_factors", factors},
                  {"calibrated_cuts", calibrated}};
  spdlog::debug("pipeline split calibration: cuts {} -> {}", fmt::join(cuts, ","),
                fmt::join(calibrated, ","));
  return calibrated;
}

DistributedPipelineStep::Incoming DistributedPipelineStep::post_recv(
    std::vector<std::int64_t> shape, int src, int tag, const char* what, int m) {
  Incoming in;
  in.buffer = torch::empty(shape, torch::TensorOptions().device(s_.device).dtype(torch::kFloat));
  try {
    // A failure names the peer: "... lost connection to rank P".
    in.op = comm_->recv_async(in.buffer, src, tag, "recv from rank " + std::to_string(src));
  } catch (const std::exception& e) {
    throw Error("pipeline stage " + std::to_string(comm_->rank()) + ": waiting for the " + what +
                " of micro-batch " + std::to_string(m) + " from stage " + std::to_string(src) +
                ": " + e.what());
  }
  return in;
}

torch::Tensor DistributedPipelineStep::wait_recv(Incoming& in, int src, const char* what, int m) {
  util::Stopwatch clock;
  try {
    in.op.wait();
  } catch (const std::exception& e) {
    throw Error("pipeline stage " + std::to_string(comm_->rank()) + ": waiting for the " + what +
                " of micro-batch " + std::to_string(m) + " from stage " + std::to_string(src) +
                ": " + e.what());
  }
  exec_->stats().idle_s += clock.seconds();
  return std::move(in.buffer);
}

namespace {

// A send in flight with the tensor it reads (kept alive until waited).
struct Outgoing {
  torch::Tensor tensor;
  dist::PendingOp op;
};

// The shape of a micro-batch of n samples of a per-sample shape.
std::vector<std::int64_t> with_batch(std::int64_t n, const std::vector<std::int64_t>& per_sample) {
  std::vector<std::int64_t> shape{n};
  shape.insert(shape.end(), per_sample.begin(), per_sample.end());
  return shape;
}

// Waits for this step's sends; returns the seconds waited (idle time of the stage).
double wait_sends(std::vector<Outgoing>& sends, int rank) {
  util::Stopwatch wait_clock;
  try {
    for (auto& s : sends) s.op.wait();
  } catch (const std::exception& e) {
    throw Error("pipeline stage " + std::to_string(rank) + ": " + e.what());
  }
  return wait_clock.seconds();
}

Outgoing send_async(dist::Comm& comm, torch::Tensor t, int dst, int tag, const std::string& what) {
  Outgoing out{t.contiguous(), {}};
  try {
    out.op = comm.send_async(out.tensor, dst, tag, what);
  } catch (const std::exception& named) {
    throw Error("pipeline stage " + std::to_string(comm.rank()) + ": " + named.what());
  }
  return out;
}

}  // namespace

void DistributedPipelineStep::step(const data::Batch& batch, train::EpochTotals& totals) {
  using Op = Action::Op;
  const int r = comm_->rank();
  const int S = o_.stages;
  const bool first = r == 0;
  const bool last = r == S - 1;
  if (!calibrating_) dist::on_rank_step(r, steps_);  // the trial steps are not the run's
  ++steps_;
  s_.optimizer.zero_grad();
  const std::int64_t B = batch.labels.size(0);
  const auto sizes = micro_batch_sizes(B, o_.micro_batches);
  const int M = static_cast<int>(sizes.size());
  std::vector<torch::Tensor> images, labels;
  if (first) images = batch.images.split_with_sizes(sizes);
  if (last) labels = batch.labels.split_with_sizes(sizes);
  std::vector<torch::Tensor> logits(M), losses(M);
  std::vector<Outgoing> sends;
  auto& st = exec_->stats();
  util::Stopwatch clock;
  // Receives: activations from stage r-1, gradients from stage r+1, tag 2m / 2m+1.
  std::vector<Incoming> acts(M), grads(M);
  auto post_act = [&](int m) {
    acts[m] =
        post_recv(with_batch(sizes[m], info_[r - 1].output_shape), r - 1, 2 * m, "activation", m);
  };
  auto post_grad = [&](int m) {
    grads[m] =
        post_recv(with_batch(sizes[m], info_[r].output_shape), r + 1, 2 * m + 1, "gradient", m);
  };
  const bool prepost = comm_->kind() == dist::BackendKind::kGloo;
  try {
    if (prepost) {
      for (int m = 0; m < M; ++m) {
        if (!first) post_act(m);
        if (!last) post_grad(m);
      }
    }
    for (const Action& a : stage_actions(o_.schedule, r, S, M)) {
      const int m = a.micro;
      const int act_tag = 2 * m, grad_tag = 2 * m + 1;
      if (a.op == Op::kForward) {
        if (!first && !prepost) post_act(m);
        auto in = first ? images[m] : wait_recv(acts[m], r - 1, "activation", m);
        auto out = exec_->forward(m, in, !first);
        if (last) {
          logits[m] = out;
          losses[m] = weighted_loss(out, labels[m], B);
        } else {
          sends.push_back(send_async(*comm_, out.detach(), r + 1, act_tag,
                                     "send of micro-batch " + std::to_string(m) + " activation"));
        }
      } else {
        if (!last && !prepost) post_grad(m);
        auto g = last ? exec_->backward_from_loss(m, losses[m])
                      : exec_->backward(m, wait_recv(grads[m], r + 1, "gradient", m));
        if (!first) {
          sends.push_back(send_async(*comm_, g, r - 1, grad_tag,
                                     "send of micro-batch " + std::to_string(m) + " gradient"));
        }
      }
    }
  } catch (...) {
    // Ops still posted would otherwise be waited for (up to the timeout) on the way out.
    for (auto* v : {&acts, &grads}) {
      for (auto& in : *v) in.op.abort();
    }
    for (auto& out : sends) out.op.abort();
    throw;
  }
  st.idle_s += wait_sends(sends, r);
  st.step_s += clock.seconds();
  s_.optimizer.step();  // this rank's parameters only: the others have no gradient
  if (last) {
    std::vector<torch::Tensor> detached;
    for (auto& l : logits) detached.push_back(l.detach());
    totals.add(torch::cat(detached), batch.labels, torch::stack(losses).sum().detach());
  } else {
    totals.steps += 1;  // loss and accuracy are the last stage's (summed over ranks)
  }
}

void DistributedPipelineStep::start_epoch() { exec_->reset_stats(); }

void DistributedPipelineStep::end_epoch() {
  torch::NoGradGuard no_grad;
  for (const auto& stage : stages_) {
    std::vector<torch::Tensor> tensors = stage.parameters();
    for (const auto& b : stage.buffers()) tensors.push_back(b);
    std::map<torch::ScalarType, std::vector<torch::Tensor>> by_type;
    for (auto& t : tensors) by_type[t.scalar_type()].push_back(t);
    for (auto& [type, group] : by_type) {
      std::vector<torch::Tensor> flat_parts;
      for (auto& t : group) flat_parts.push_back(t.detach().reshape({-1}));
      std::vector<torch::Tensor> flat{torch::cat(flat_parts)};
      comm_->broadcast(flat, stage.index());
      if (comm_->rank() == stage.index()) continue;
      std::int64_t offset = 0;
      for (auto& t : group) {
        t.detach().copy_(flat[0].slice(0, offset, offset + t.numel()).view(t.sizes()));
        offset += t.numel();
      }
    }
  }
}

nlohmann::json DistributedPipelineStep::epoch_stats() {
  const auto& st = exec_->stats();
  auto mine = torch::tensor({st.busy_s, st.idle_s, st.step_s, double(st.max_in_flight),
                             double(st.peak_activation_bytes), double(st.micro_batches)},
                            torch::kDouble);
  std::vector<StageStats> all;
  for (const auto& t : comm_->all_gather(mine)) {
    StageStats s;
    s.busy_s = t[0].item<double>();
    s.idle_s = t[1].item<double>();
    s.step_s = t[2].item<double>();
    s.max_in_flight = static_cast<int>(t[3].item<double>());
    s.peak_activation_bytes = static_cast<std::int64_t>(t[4].item<double>());
    s.micro_batches = static_cast<std::int64_t>(t[5].item<double>());
    all.push_back(s);
  }
  return stats_json(o_, all, true);
}

nlohmann::json DistributedPipelineStep::document_extras() {
  auto doc = pipeline_section(o_, info_, "multi-process");
  doc["pipeline"]["backend"] = dist::backend_name(comm_->kind());
  if (!calibration_.is_null()) doc["pipeline"]["split_calibration"] = calibration_;
  return doc;
}

}  // namespace tdml::pipeline
