#include "tdml/dist/process_group.h"

#include <chrono>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#ifdef TDML_HAS_GLOO  // set by CMake only where gloo's headers exist (not in PyTorch wheels)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(TDML_HAS_CUDA) && defined(USE_C10D_NCCL)
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <csignal>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tdml/util/error.h"
#include "util/torch_compat.h"
#include "tdml/util/log.h"
#include "tdml/util/system.h"

namespace tdml::dist {
namespace {

// First line of an exception message, without c10's backtrace.
std::string reason_of(const std::exception& e) {
  std::string s;
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) {
    s = ce->what_without_backtrace();
  } else {
    s = e.what();
  }
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int fallback, int min_value) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < min_value || x > (1 << 30)) {
    throw Error(std::string("environment variable ") + name + "='" + v +
                "' is not an integer >= " + std::to_string(min_value));
  }
  return static_cast<int>(x);
}

std::string format_mib(std::int64_t bytes) {
  std::ostringstream os;
  os.precision(bytes < (1 << 20) ? 3 : 1);
  os << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return os.str();
}

c10::intrusive_ptr<c10d::Store> connect_store(const DistOptions& o) {
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  const bool host = !o.use_agent_store && o.rank == 0;
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(o.master_port);
  so.isServer = host;
  if (!o.use_agent_store) so.numWorkers = static_cast<std::size_t>(o.world);
  so.waitWorkers = !o.use_agent_store;
  so.timeout = o.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    const std::string r = reason_of(e);
    if (host && contains(r, "in use")) {
      throw Error("rank 0 cannot host the rendezvous store on " + where +
                  ": address already in use; choose another --master-port (0 picks a free one)");
    }
    if (host && contains(r, "Timed out")) {
      throw Error("rendezvous timed out after " + std::to_string(o.timeout.count() / 1000) +
                  " s: rank 0 hosts the store on " + where + " but not all " +
                  std::to_string(o.world) + " ranks joined (" + r + ")");
    }
    if (host) {
      throw Error("rank 0 cannot host the rendezvous store on " + where + ": " + r +
                  " (check --master-addr is an address of this machine)");
    }
    throw Error("rank " + std::to_string(o.rank) + " cannot reach the rendezvous store at " +
                where + " within " + std::to_string(o.timeout.count() / 1000) + " s: " + r +
                " (is rank 0 running, and MASTER_ADDR/MASTER_PORT right?)");
  }
  if (o.use_agent_store) {
    store = c10::make_intrusive<c10d::PrefixStore>(
        "/worker/attempt_" + std::to_string(o.restart_count), store);
  }
  return store;
}

BackendKind resolve(BackendKind kind) {
  if (kind != BackendKind::kAuto) return kind;
#if defined(TDML_HAS_CUDA) && defined(USE_C10D_NCCL)
  if (torch::cuda::is_available()) return BackendKind::kNccl;
#endif
  return BackendKind::kGloo;
}

#ifndef TDML_HAS_GLOO
[[noreturn]] void no_gloo(const char* what) {
  throw Error(std::string(what) +
              ": this tdml was built without c10d's Gloo backend (gloo's headers were not found "
              "at configure time; PyTorch wheels do not ship them); use --backend nccl on GPUs, "
              "or build against a LibTorch with gloo headers (Debian: libgloo-dev)");
}
#endif

#ifdef TDML_HAS_GLOO
std::shared_ptr<::gloo::transport::Device> gloo_device(const DistOptions& o) {
  // One node: bind where the store is (127.0.0.1 by default). Several: this host's own address,
  // or the interface named by GLOO_SOCKET_IFNAME as PyTorch does.
  if (o.nnodes > 1) {
    if (const char* ifname = env("GLOO_SOCKET_IFNAME")) {
      return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    }
    return c10d::ProcessGroupGloo::createDefaultDevice();
  }
  return c10d::ProcessGroupGloo::createDeviceForHostname(o.master_addr);
}
#endif

c10::intrusive_ptr<compat::C10dBackend> make_backend(BackendKind kind,
                                                     const c10::intrusive_ptr<c10d::Store>& store,
                                                     const DistOptions& o) {
  if (kind == BackendKind::kNccl) {
#if defined(TDML_HAS_CUDA) && defined(USE_C10D_NCCL)
    TDML_CHECK(torch::cuda::is_available(), "--backend nccl: no CUDA device is visible");
    TDML_CHECK(o.local_rank < static_cast<int>(torch::cuda::device_count()),
               "--backend nccl: local rank " << o.local_rank << " has no GPU (only "
                                             << torch::cuda::device_count() << " visible)");
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(o.local_rank));
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = o.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.world, opts);
#else
    throw Error("--backend nccl: this tdml was built without CUDA/NCCL; use --backend gloo");
#endif
  }
#ifdef TDML_HAS_GLOO
  auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
  opts->devices.push_back(gloo_device(o));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world, opts);
#else
  no_gloo("--backend gloo");
#endif
}

}  // namespace

BackendKind parse_backend(const std::string& name) {
  if (name == "auto") return BackendKind::kAuto;
  if (name == "gloo") return BackendKind::kGloo;
  if (name == "nccl") return BackendKind::kNccl;
  throw UsageError("--backend " + name + ": expected auto, gloo or nccl");
}

std::string backend_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::kAuto:
      return "auto";
    case BackendKind::kGloo:
      return "gloo";
    case BackendKind::kNccl:
      return "nccl";
  }
  return "?";
}

bool is_worker_process() { return env("RANK") && env("WORLD_SIZE"); }

DistOptions dist_options_from_env(DistOptions o) {
  o.world = env_int("WORLD_SIZE", o.world, 1);
  o.rank = env_int("RANK", o.rank, 0);
  o.local_rank = env_int("LOCAL_RANK", o.rank, 0);
  o.local_world = env_int("LOCAL_WORLD_SIZE", o.world, 1);
  o.node_rank = env_int("GROUP_RANK", o.node_rank, 0);
  o.nnodes = std::max(o.nnodes, (o.world + o.local_world - 1) / o.local_world);
  if (const char* a = env("MASTER_ADDR")) o.master_addr = a;
  o.master_port = env_int("MASTER_PORT", o.master_port, 1);
  o.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", o.restart_count, 0);
  if (const char* id = env("TORCHELASTIC_RUN_ID")) o.run_id = id;
  if (const char* s = env("TORCHELASTIC_USE_AGENT_STORE"))
    o.use_agent_store = std::string(s) == "True";
  if (env("TDML_DIST_TIMEOUT_S")) {
    o.timeout = std::chrono::seconds(env_int("TDML_DIST_TIMEOUT_S", 0, 1));
  }
  TDML_CHECK(o.rank < o.world, "RANK=" << o.rank << " is not below WORLD_SIZE=" << o.world);
  TDML_CHECK(o.local_rank < o.local_world,
             "LOCAL_RANK=" << o.local_rank << " is not below LOCAL_WORLD_SIZE=" << o.local_world);
  TDML_CHECK(o.master_port <= 65535, "MASTER_PORT=" << o.master_port << " is not a TCP port");
  return o;
}

void write_elastic_error_file(const std::string& message) {
  const char* path = env("TORCHELASTIC_ERROR_FILE");
  if (!path) return;
  try {
    // torchrun reads "timestamp" with int(): Unix seconds (an ISO string crashed its agent).
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    nlohmann::json j = {{"message", message}, {"timestamp", static_cast<std::int64_t>(now.count())}};
    std::ofstream f(path, std::ios::trunc);
    f << j.dump() << "\n";
  } catch (...) {
    // Best effort: the error itself is still printed and returned as the exit code.
  }
}

// ---- PendingOp ----

struct PendingOp::Work {
  c10::intrusive_ptr<c10d::Work> op;
};

struct Comm::Backend {
  c10::intrusive_ptr<compat::C10dBackend> pg;
  c10::intrusive_ptr<c10d::Store> store;  // kept alive: the backend's rendezvous uses it
};

namespace {
std::unique_ptr<PendingOp::Work> work(c10::intrusive_ptr<c10d::Work> op) {
  return std::make_unique<PendingOp::Work>(PendingOp::Work{std::move(op)});
}
}  // namespace

PendingOp::PendingOp() = default;

PendingOp::PendingOp(std::unique_ptr<Work> work, const Comm* comm, std::string what,
                     std::function<void()> after, int peer)
    : work_(std::move(work)),
      comm_(comm),
      what_(std::move(what)),
      after_(std::move(after)),
      peer_(peer) {}
PendingOp::PendingOp(PendingOp&&) noexcept = default;
PendingOp& PendingOp::operator=(PendingOp&&) noexcept = default;

PendingOp::~PendingOp() {
  // A dropped Work can hang the backend: finish it, swallowing errors (destructors can't throw).
  if (work_) {
    try {
      work_->op->wait();
    } catch (...) {
    }
  }
}

void PendingOp::abort() noexcept {
  if (!work_) return;
  auto work = std::move(work_);
  try {
    if (!work->op->isCompleted()) work->op->abort();
  } catch (...) {  // a backend without abort: the op is dropped unfinished
  }
}

void PendingOp::wait() {
  TDML_CHECK(work_, "PendingOp::wait on an empty or already waited operation");
  auto work = std::move(work_);
  try {
    work->op->wait(comm_->timeout());
  } catch (const std::exception& e) {
    comm_->rethrow(what_, e, peer_);
  }
  if (after_) after_();
}

bool PendingOp::completed() const { return !work_ || work_->op->isCompleted(); }

bool PendingOp::on_complete(std::function<void()> fn) {
  if (!work_) return false;
  try {
    auto fut = work_->op->getFuture();
    fut->addCallback([fn = std::move(fn)](c10::ivalue::Future&) { fn(); });
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// ---- Comm ----

Comm::Comm(std::unique_ptr<Backend> backend, int rank, int world, BackendKind kind,
           std::chrono::milliseconds timeout)
    : backend_(std::move(backend)),
      rank_(rank),
      world_(world),
      kind_(kind),
      timeout_(timeout) {}

Comm::~Comm() = default;

void Comm::rethrow(const std::string& what, const std::exception& e, int peer) const {
  const std::string r = reason_of(e);
  std::ostringstream os;
  os << what << " failed on rank " << rank_ << " of " << world_ << ": ";
  if (peer < 0 && world_ == 2) peer = 1 - rank_;
  if (contains(r, "closed by peer") || contains(r, "reset by peer") || contains(r, "Broken pipe") ||
      contains(r, "Connection refused")) {
    os << "lost connection to " << (peer >= 0 ? "rank " + std::to_string(peer) : "a peer rank")
       << " (it exited or was killed; see its output) [" << r << "]";
  } else if (contains(r, "Timed out") || contains(r, "timed out")) {
    os << "timed out after " << timeout_.count() / 1000.0 << " s waiting for "
       << (peer >= 0 ? "rank " + std::to_string(peer) : "a peer rank")
       << " (stuck, gone, or issuing different collectives) [" << r << "]";
  } else {
    os << r;
  }
  throw Error(os.str());
}

bool Comm::stages_through_gpu(const torch::Tensor& t) const {
  return kind_ == BackendKind::kNccl && !t.is_cuda();
}

void Comm::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (!tensors.empty() && stages_through_gpu(tensors[0])) {
    std::vector<torch::Tensor> staged;
    for (auto& t : tensors) staged.push_back(t.to(torch::kCUDA));
    broadcast(staged, root);
    for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(staged[i]);
    return;
  }
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = timeout_;
  PendingOp op;
  try {
    op = PendingOp(work(backend_->pg->broadcast(tensors, o)), this,
                   "broadcast from rank " + std::to_string(root), nullptr);
  } catch (const std::exception& e) {
    rethrow("broadcast", e, root);
  }
  op.wait();
}

PendingOp Comm::all_reduce_async(torch::Tensor& tensor, ReduceOp op) {
  TDML_CHECK(tensor.is_contiguous(), "all_reduce needs a contiguous tensor");
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = timeout_;
  std::vector<torch::Tensor> ts{tensor};
  const std::string what = "all_reduce of " + format_mib(tensor.numel() * tensor.element_size());
  std::function<void()> after;
  if (op == ReduceOp::kAvg) {
    // Gloo has no AVG: sum, then divide.
    after = [t = tensor, w = world_]() mutable { t.div_(w); };
  }
  try {
    return PendingOp(work(backend_->pg->allreduce(ts, o)), this, what, std::move(after));
  } catch (const std::exception& e) {
    rethrow(what, e);
  }
}

void Comm::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  if (stages_through_gpu(tensor)) {
    auto staged = tensor.to(torch::kCUDA);
    all_reduce_async(staged, op).wait();
    tensor.copy_(staged);
    return;
  }
  all_reduce_async(tensor, op).wait();
}

std::vector<torch::Tensor> Comm::all_gather(const torch::Tensor& input) {
  if (stages_through_gpu(input)) {
    auto rows = all_gather(input.to(torch::kCUDA));
    for (auto& r : rows) r = r.cpu();
    return rows;
  }
  std::vector<torch::Tensor> in{input.contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < world_; ++r) out[0].push_back(torch::empty_like(in[0]));
  c10d::AllgatherOptions o;
  o.timeout = timeout_;
  PendingOp op;
  try {
    op = PendingOp(work(backend_->pg->allgather(out, in, o)), this, "all_gather", nullptr);
  } catch (const std::exception& e) {
    rethrow("all_gather", e);
  }
  op.wait();
  return out[0];
}

void Comm::barrier() {
  c10d::BarrierOptions o;
  o.timeout = timeout_;
  PendingOp op;
  try {
    op = PendingOp(work(backend_->pg->barrier(o)), this, "barrier", nullptr);
  } catch (const std::exception& e) {
    rethrow("barrier", e);
  }
  op.wait();
}

void Comm::send(torch::Tensor& tensor, int dst, int tag) {
  send_async(tensor, dst, tag, "send to rank " + std::to_string(dst)).wait();
}

PendingOp Comm::send_async(torch::Tensor& tensor, int dst, int tag, std::string what) {
  std::vector<torch::Tensor> ts{tensor};
  try {
    auto op = work(backend_->pg->send(ts, dst, tag));
    return PendingOp(std::move(op), this, std::move(what), nullptr, dst);
  } catch (const std::exception& e) {
    rethrow(what, e, dst);
  }
}

PendingOp Comm::recv_async(torch::Tensor& tensor, int src, int tag, std::string what) {
  std::vector<torch::Tensor> ts{tensor};
  try {
    auto op = work(backend_->pg->recv(ts, src, tag));
    return PendingOp(std::move(op), this, std::move(what), nullptr, src);
  } catch (const std::exception& e) {
    rethrow(what, e, src);
  }
}

void Comm::recv(torch::Tensor& tensor, int src, int tag) {
  recv_async(tensor, src, tag, "recv from rank " + std::to_string(src)).wait();
}

// ---- construction ----

namespace {

// When a peer dies, this rank's sockets to it are closed at the far end, and writing to one
// raises SIGPIPE, whose default action kills the rank at once: it can neither report which peer
// it lost nor mark its run failed (seen: "rank 0 was killed by signal 13" after rank 1 was
// killed). Ignored, the write fails with EPIPE and the collective throws instead. (Python
// ignores SIGPIPE at start-up, so PyTorch ranks never see it.)
void ignore_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }

}  // namespace

std::shared_ptr<Comm> init_process_group(const DistOptions& o) {
  ignore_sigpipe();
  TDML_CHECK(o.world >= 1 && o.rank >= 0 && o.rank < o.world,
             "bad rank/world: rank " << o.rank << " of " << o.world);
  TDML_CHECK(o.master_port >= 1 && o.master_port <= 65535,
             "master port " << o.master_port << " is not a TCP port (1..65535)");
  const BackendKind kind = resolve(o.backend);
  auto store = connect_store(o);
  c10::intrusive_ptr<compat::C10dBackend> backend;
  try {
    backend = make_backend(kind, store, o);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string r = reason_of(e);
    if (contains(r, "Timeout") || contains(r, "timed out") || contains(r, "Timed out")) {
      throw Error(
          "rendezvous timed out after " + std::to_string(o.timeout.count() / 1000) + " s on rank " +
          std::to_string(o.rank) + ": not all " + std::to_string(o.world) + " ranks joined the " +
          backend_name(kind) + " group via " + o.master_addr + ":" + std::to_string(o.master_port) +
          " (is every rank started, with the same MASTER_ADDR/PORT and WORLD_SIZE?) [" + r + "]");
    }
    throw Error("rank " + std::to_string(o.rank) + " could not form the " + backend_name(kind) +
                " group of " + std::to_string(o.world) + " ranks via " + o.master_addr + ":" +
                std::to_string(o.master_port) + ": " + r);
  }
  spdlog::debug("rank {} of {} joined the {} group via {}:{}{}", o.rank, o.world,
                backend_name(kind), o.master_addr, o.master_port,
                o.use_agent_store ? " (torchrun agent store)" : "");
  return std::make_shared<Comm>(std::make_unique<Comm::Backend>(Comm::Backend{backend, store}),
                                o.rank, o.world, kind, o.timeout);
}

std::vector<std::shared_ptr<Comm>> make_local_group(int world, std::chrono::milliseconds timeout) {
  ignore_sigpipe();
  TDML_CHECK(world >= 1, "make_local_group: world must be >= 1, got " << world);
#ifndef TDML_HAS_GLOO
  (void)timeout;
  no_gloo("make_local_group (ranks as threads over Gloo)");
#else
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::shared_ptr<Comm>> comms(world);
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, r, world, opts);
        comms[r] = std::make_shared<Comm>(
            std::make_unique<Comm::Backend>(Comm::Backend{pg, store}), r, world,
            BackendKind::kGloo, timeout);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return comms;
#endif
}

void run_local_ranks(int world, const std::function<void(Comm&)>& fn,
                     std::chrono::milliseconds timeout) {
  auto comms = make_local_group(world, timeout);
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        fn(*comms[r]);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace tdml::dist
