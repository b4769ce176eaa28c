#include "tdml/metrics/system_report.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#ifdef TDML_HAS_GLOO  // set by CMake only where gloo's headers exist (not in PyTorch wheels)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#ifdef TDML_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "tdml/util/system.h"

namespace tdml::metrics {
namespace {

#ifdef TDML_HAS_CUDA
constexpr bool kCompiledWithCuda = true;
#else
constexpr bool kCompiledWithCuda = false;
#endif

std::string cpu_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "";
}

std::string command_output(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p)) out += buf;
  ::pclose(p);
  return out;
}

// A real one-rank Gloo group over an in-memory store: init + all-reduce.
nlohmann::json gloo_probe() {
#ifndef TDML_HAS_GLOO
  return {{"available", false},
          {"init_test", "not built (gloo headers not found at configure time)"}};
#else
  try {
    auto store = c10::make_intrusive<c10d::HashStore>();
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, 0, 1, opts);
    std::vector<at::Tensor> t{torch::ones({4})};
    pg->allreduce(t)->wait();
    return {{"available", true}, {"init_test", t[0].sum().item<double>() == 4.0 ? "ok" : "wrong result"}};
  } catch (const std::exception& e) {
    return {{"available", true}, {"init_test", std::string("failed: ") + e.what()}};
  }
#endif
}

nlohmann::json gpus() {
  nlohmann::json list = nlohmann::json::array();
#ifdef TDML_HAS_CUDA
  const int n = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < n; ++i) {
    auto* p = at::cuda::getDeviceProperties(i);
    nlohmann::json peers = nlohmann::json::array();
    for (int j = 0; j < n; ++j) {
      int ok = 0;
      if (i != j) cudaDeviceCanAccessPeer(&ok, i, j);
      peers.push_back(i == j ? true : ok != 0);
    }
    list.push_back({{"index", i},
                    {"name", p->name},
                    {"compute_capability", std::to_string(p->major) + "." + std::to_string(p->minor)},
                    {"memory_bytes", static_cast<std::int64_t>(p->totalGlobalMem)},
                    {"multiprocessors", p->multiProcessorCount},
                    {"p2p_access", peers}});
  }
#endif
  return list;
}

}  // namespace

nlohmann::json system_report() {
  struct utsname u {};
  ::uname(&u);
  struct statvfs fs {};
  std::int64_t disk_free = ::statvfs(".", &fs) == 0 ? std::int64_t(fs.f_bavail) * fs.f_frsize : 0;
  nlohmann::json env = nlohmann::json::object();
  for (const char* k : {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK",
                        "LOCAL_WORLD_SIZE", "CUDA_VISIBLE_DEVICES", "NCCL_DEBUG",
                        "NCCL_SOCKET_IFNAME", "NCCL_IB_DISABLE", "NCCL_P2P_DISABLE",
                        "GLOO_SOCKET_IFNAME", "TORCHELASTIC_RUN_ID", "OMP_NUM_THREADS", "TDML_DATA"}) {
    const char* v = std::getenv(k);
    env[k] = v ? nlohmann::json(v) : nlohmann::json(nullptr);
  }
  const bool cuda = torch::cuda::is_available();
  std::string nvcc = command_output("nvcc --version | tail -n 2 | head -n 1");
  if (!nvcc.empty() && nvcc.back() == '\n') nvcc.pop_back();
  nlohmann::json r = {
      {"os", util::os_name()},
      {"kernel", std::string(u.sysname) + " " + u.release},
      {"host", util::host_name()},
      {"cpu", {{"model", cpu_field("model name")},
               {"cores", util::cpu_cores()},
               {"mhz", cpu_field("cpu MHz")},
               {"amx", cpu_field("flags").find("amx_bf16") != std::string::npos}}},
      {"ram_bytes", util::total_ram_bytes()},
      {"disk_free_bytes", disk_free},
      {"libtorch", {{"version", TORCH_VERSION},
                    {"intra_op_threads", at::get_num_threads()},
                    {"interop_threads", at::get_num_interop_threads()},
                    {"build_config", at::show_config()}}},
      {"cuda", {{"available", cuda},
                {"device_count", cuda ? static_cast<int>(torch::cuda::device_count()) : 0},
                {"cudnn_available", cuda && torch::cuda::cudnn_is_available()},
                {"compiled_with_cuda", kCompiledWithCuda},
                {"nvcc", nvcc}}},
      {"gpus", gpus()},
      {"c10d", {{"gloo", gloo_probe()},
#ifdef USE_C10D_NCCL
                {"nccl", {{"available", true}}},
#else
                {"nccl",
                 {{"available", false},
                  {"reason", kCompiledWithCuda ? "nccl.h not found at configure time"
                                               : "LibTorch built without CUDA"}}},
#endif
                {"mpi", {{"available", false}, {"reason", "tdml does not build c10d's MPI backend"}}}}},
      {"env", env},
  };
  return r;
}

std::string format_system_report(const nlohmann::json& r) {
  std::ostringstream os;
  auto gib = [](std::int64_t b) { return std::to_string(b / (1024 * 1024 * 1024)) + " GiB"; };
  os << "OS:            " << r["os"].get<std::string>() << " (" << r["kernel"].get<std::string>() << ")\n"
     << "CPU:           " << r["cpu"]["model"].get<std::string>() << ", " << r["cpu"]["cores"]
     << " cores, " << r["cpu"]["mhz"].get<std::string>() << " MHz"
     << (r["cpu"]["amx"].get<bool>() ? ", AMX (fast bf16)" : "") << "\n"
     << "RAM:           " << gib(r["ram_bytes"].get<std::int64_t>()) << ", disk free "
     << gib(r["disk_free_bytes"].get<std::int64_t>()) << "\n"
     << "LibTorch:      " << r["libtorch"]["version"].get<std::string>() << ", "
     << r["libtorch"]["intra_op_threads"] << " intra-op threads\n"
     << "CUDA:          " << (r["cuda"]["available"].get<bool>() ? "available" : "not available")
     << " (compiled: " << (r["cuda"]["compiled_with_cuda"].get<bool>() ? "yes" : "no") << ")"
     << (r["cuda"]["nvcc"].get<std::string>().empty() ? "" : ", nvcc " + r["cuda"]["nvcc"].get<std::string>())
     << "\n";
  for (const auto& g : r["gpus"]) {
    os << "GPU " << g["index"] << ":         " << g["name"].get<std::string>() << ", cc "
       << g["compute_capability"].get<std::string>() << ", " << gib(g["memory_bytes"].get<std::int64_t>())
       << ", P2P " << g["p2p_access"].dump() << "\n";
  }
  os << "c10d Gloo:     " << r["c10d"]["gloo"]["init_test"].get<std::string>() << "\n"
     << "c10d NCCL:     " << (r["c10d"]["nccl"]["available"].get<bool>() ? "available" : "not available") << "\n"
     << "c10d MPI:      not available\n"
     << "Environment:  ";
  bool any = false;
  for (auto& [k, v] : r["env"].items()) {
    if (!v.is_null()) {
      os << " " << k << "=" << v.get<std::string>();
      any = true;
    }
  }
  os << (any ? "" : " (no distributed variables set)") << "\n";
  return os.str();
}

}  // namespace tdml::metrics
