#include "tdml/dist/ddp.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <sstream>

#include "tdml/util/error.h"

namespace tdml::dist {

struct GradientReducer::Bucket {
  torch::Tensor flat;
  std::vector<std::size_t> slots;
  std::size_t pending = 0;  // slots whose gradient has not arrived this step
  bool launched = false;
  bool during_backward = false;
  PendingOp op;
  Clock::time_point launch_time;
  std::atomic<std::int64_t> done_ns{0};  // completion, ns since launch_time (0: unknown yet)
};

namespace {

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Runs after AccumulateGrad has added the new gradient into p.grad().
struct ReadyHook : torch::autograd::FunctionPostHook {
  explicit ReadyHook(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    fn_();
    return outputs;
  }
  std::function<void()> fn_;
};

std::string join_names(const std::vector<std::string>& names, std::size_t max = 8) {
  std::ostringstream os;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) os << (i ? ", " : "") << names[i];
  if (names.size() > max) os << " and " << names.size() - max << " more";
  return os.str();
}

}  // namespace

void broadcast_coalesced(Comm& comm, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  std::map<std::pair<int, std::string>, std::vector<torch::Tensor>> groups;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    groups[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
  }
  for (auto& [key, group] : groups) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& t : group) flat_parts.push_back(t.detach().reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(flat_parts)};
    comm.broadcast(flat, 0);
    std::int64_t off = 0;
    for (auto& t : group) {
      t.detach().copy_(flat[0].narrow(0, off, t.numel()).view_as(t));
      off += t.numel();
    }
  }
}

GradientReducer::GradientReducer(std::shared_ptr<Comm> comm, torch::nn::Module& module,
                                 DdpOptions options)
    : comm_(std::move(comm)), options_(options) {
  TDML_CHECK(comm_, "GradientReducer needs a communicator");
  TDML_CHECK(options_.bucket_cap_mb > 0 && options_.first_bucket_mb > 0,
             "DdpOptions: bucket sizes must be > 0 MiB");
  std::vector<torch::Tensor> state;
  for (const auto& p : module.named_parameters(true)) {
    state.push_back(p.value());
    if (!p.value().requires_grad()) continue;
    TDML_CHECK(!p.value().is_sparse(), "DDP: sparse parameter " << p.key() << " is unsupported");
    slots_.push_back(Slot{p.key(), p.value()});
  }
  for (const auto& b : module.named_buffers(true)) {
    buffers_.emplace_back(b.key(), b.value());
    state.push_back(b.value());
  }
  // Every rank starts from rank 0's weights.
  broadcast_coalesced(*comm_, state);
  assign_buckets();
  install_hooks();
  reset_step_locked();
}

GradientReducer::~GradientReducer() {
  for (std::size_t i = 0; i < accumulators_.size(); ++i) {
    accumulators_[i]->del_post_hook(hook_keys_[i]);
  }
}

void GradientReducer::assign_buckets() {
  // PyTorch's compute_bucket_assignment_by_size: parameters in reverse order (gradients of the
  // last layers arrive first), one open bucket per (dtype, device), first limit then cap.
  struct Open {
    std::vector<std::size_t> slots;
    std::int64_t bytes = 0;
    bool first = true;
  };
  std::map<std::pair<int, std::string>, Open> open;
  std::vector<std::vector<std::size_t>> done;
  const auto mib = [](double m) { return static_cast<std::int64_t>(m * 1024 * 1024); };
  for (std::size_t k = slots_.size(); k-- > 0;) {
    const auto& p = slots_[k].param;
    auto& o = open[{static_cast<int>(p.scalar_type()), p.device().str()}];
    o.slots.push_back(k);
    o.bytes += p.numel() * p.element_size();
    if (o.bytes >= mib(o.first ? options_.first_bucket_mb : options_.bucket_cap_mb)) {
      done.push_back(std::move(o.slots));
      o = Open{{}, 0, false};
    }
  }
  for (auto& [key, o] : open) {
    if (!o.slots.empty()) done.push_back(std::move(o.slots));
  }
  // Launch order = the order their first gradient is expected (highest parameter index first).
  std::sort(done.begin(), done.end(),
            [](const auto& a, const auto& b) { return a.front() > b.front(); });
  for (auto& slots : done) {
    auto bucket = std::make_unique<Bucket>();
    std::int64_t numel = 0;
    for (auto k : slots) {
      slots_[k].bucket = static_cast<int>(buckets_.size());
      slots_[k].offset = numel;
      numel += slots_[k].param.numel();
    }
    bucket->flat =
        torch::zeros({numel}, slots_[slots.front()].param.options().requires_grad(false));
    bucket->slots = std::move(slots);
    buckets_.push_back(std::move(bucket));
  }
}

void GradientReducer::install_hooks() {
  for (std::size_t k = 0; k < slots_.size(); ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(slots_[k].param);
    TDML_CHECK(acc, "DDP: parameter " << slots_[k].name << " has no gradient accumulator");
    hook_keys_.push_back(
        acc->add_post_hook(std::make_unique<ReadyHook>([this, k] { on_gradient(k); })));
    accumulators_.push_back(std::move(acc));
  }
}

std::vector<std::vector<std::string>> GradientReducer::bucket_layout() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& b : buckets_) {
    out.emplace_back();
    for (auto k : b->slots) out.back().push_back(slots_[k].name);
  }
  return out;
}

void GradientReducer::set_require_sync(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  require_sync_ = on;
}

void GradientReducer::broadcast_buffers() {
  if (!options_.broadcast_buffers || buffers_.empty() || comm_->world() == 1) return;
  std::vector<torch::Tensor> ts;
  for (auto& b : buffers_) ts.push_back(b.second);
  broadcast_coalesced(*comm_, ts);
}

void GradientReducer::on_gradient(std::size_t k) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!require_sync_) return;
  const auto now = Clock::now();
  if (!step_started_) {
    step_started_ = true;
    first_grad_ = now;
  }
  last_grad_ = now;
  if (slots_[k].ready) {
    errors_.push_back(slots_[k].name);
    return;
  }
  mark_ready_locked(k, slots_[k].param.grad());
  launch_ready_locked();
}

void GradientReducer::mark_ready_locked(std::size_t k, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  auto& s = slots_[k];
  auto& b = *buckets_[s.bucket];
  auto view = b.flat.narrow(0, s.offset, s.param.numel());
  if (grad.defined()) {
    torch::mul_out(view, grad.reshape({-1}), 1.0 / comm_->world());
  } else {
    view.zero_();
  }
  s.ready = true;
  --b.pending;
  --pending_slots_;
}

void GradientReducer::launch_ready_locked() {
  // Strictly in index order, so that every rank issues the same collectives in the same order.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_]->pending == 0) {
    auto& b = *buckets_[next_launch_++];
    b.launched = true;
    b.during_backward = pending_slots_ > 0;
    b.launch_time = Clock::now();
    b.done_ns.store(0);
    b.op = comm_->all_reduce_async(b.flat, ReduceOp::kSum);
    Bucket* bp = &b;
    b.op.on_complete([bp] {
      auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - bp->launch_time);
      bp->done_ns.store(std::max<std::int64_t>(1, ns.count()));
    });
  }
}

void GradientReducer::reset_step_locked() {
  for (auto& s : slots_) s.ready = false;
  for (auto& b : buckets_) {
    b->pending = b->slots.size();
    b->launched = false;
  }
  pending_slots_ = slots_.size();
  next_launch_ = 0;
  step_started_ = false;
  errors_.clear();
}

void GradientReducer::fail_step_locked(const std::string& message) {
  // Finish what was launched (every rank launched the same buckets) before giving up.
  for (auto& b : buckets_) {
    if (b->op.valid()) {
      try {
        b->op.wait();
      } catch (const Error&) {
      }
    }
  }
  reset_step_locked();
  throw Error(message);
}

void GradientReducer::finalize() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_ = StepStats{};
  if (!require_sync_) {
    reset_step_locked();
    return;
  }
  if (!errors_.empty()) {
    fail_step_locked("DDP: gradient of " + join_names(errors_) +
                     " arrived twice in one synced step on rank " + std::to_string(comm_->rank()) +
                     " (call backward once per step, or set_require_sync(false) for "
                     "accumulation steps)");
  }
  if (!slots_.empty() && !step_started_ && !options_.find_unused_parameters) {
    fail_step_locked("DDP: finalize() on rank " + std::to_string(comm_->rank()) +
                     " but no gradient arrived: call loss.backward() first");
  }
  const auto backward_end = step_started_ ? last_grad_ : Clock::now();
  if (pending_slots_ > 0) {
    std::vector<std::string> missing;
    for (auto& s : slots_) {
      if (!s.ready) missing.push_back(s.name);
    }
    if (!options_.find_unused_parameters) {
      fail_step_locked("DDP: rank " + std::to_string(comm_->rank()) + ": " +
                       std::to_string(missing.size()) +
                       " parameter(s) got no gradient in "
                       "backward: " +
                       join_names(missing) +
                       "; every parameter must contribute to the loss (or enable "
                       "find_unused_parameters)");
    }
    for (std::size_t k = 0; k < slots_.size(); ++k) {
      if (!slots_[k].ready) mark_ready_locked(k, torch::Tensor());
    }
    stats_.unused_params = std::move(missing);
    launch_ready_locked();
  }

  const auto wait_start = Clock::now();
  for (auto& b : buckets_) b->op.wait();
  const auto wait_end = Clock::now();

  {
    torch::NoGradGuard no_grad;
    for (auto& s : slots_) {
      auto avg = buckets_[s.bucket]->flat.narrow(0, s.offset, s.param.numel()).view_as(s.param);
      if (s.param.grad().defined()) {
        s.param.mutable_grad().copy_(avg);
      } else {
        s.param.mutable_grad() = avg.clone();
      }
    }
  }

  record_step_stats_locked(wait_start, wait_end, backward_end);
  reset_step_locked();
}

void GradientReducer::record_step_stats_locked(Clock::time_point wait_start,
                                               Clock::time_point wait_end,
                                               Clock::time_point backward_end) {
  // Per bucket, and the union of [launch, completion] intervals as total comm time.
  stats_.synced = true;
  stats_.backward_s = step_started_ ? seconds(last_grad_ - first_grad_) : 0.0;
  stats_.exposed_s = seconds(wait_end - wait_start);
  std::vector<std::pair<Clock::time_point, Clock::time_point>> spans;
  for (auto& b : buckets_) {
    BucketStats bs;
    bs.bytes = b->flat.numel() * b->flat.element_size();
    bs.params = static_cast<int>(b->slots.size());
    bs.launch_s = step_started_ ? seconds(b->launch_time - first_grad_) : 0.0;
    const std::int64_t ns = b->done_ns.load();
    // Without a completion time (the backend gave no future) the bucket counts as done when
    // the wait ended, which can only overstate comm_s: counted, so metrics say so.
    bs.completion_from_wait = ns <= 0;
    const auto end = ns > 0 ? b->launch_time + std::chrono::nanoseconds(ns) : wait_end;
    bs.comm_s = seconds(end - b->launch_time);
    stats_.buckets_timed_at_wait += bs.completion_from_wait ? 1 : 0;
    bs.launched_during_backward = b->during_backward && b->launch_time < backward_end;
    spans.emplace_back(b->launch_time, end);
    stats_.bytes_reduced += bs.bytes;
    stats_.buckets_overlapped += bs.launched_during_backward ? 1 : 0;
    stats_.per_bucket.push_back(bs);
  }
  stats_.buckets = static_cast<int>(buckets_.size());
  std::sort(spans.begin(), spans.end());
  Clock::time_point covered{};
  for (const auto& [from, to] : spans) {
    const auto start = std::max(from, covered);
    if (to > start) stats_.comm_s += seconds(to - start);
    covered = std::max(covered, to);
  }
}

}  // namespace tdml::dist
