#include "dist_options.h"

#include "tdml/util/error.h"

namespace tdml::app {

void add_dist_options(cxxopts::Options& opts) {
  auto add = opts.add_options("Distributed");
  add("nproc", "Worker processes on this node (launches them; 1 = no launch)",
      cxxopts::value<int>()->default_value("1"));
  add("nnodes", "Nodes in the job", cxxopts::value<int>()->default_value("1"));
  add("node-rank", "This node's index", cxxopts::value<int>()->default_value("0"));
  add("master-addr", "Address of rank 0's rendezvous store",
      cxxopts::value<std::string>()->default_value("127.0.0.1"));
  add("master-port", "Port of the store (0: pick a free one, single node)",
      cxxopts::value<int>()->default_value("0"));
  add("backend", "auto, gloo or nccl", cxxopts::value<std::string>()->default_value("auto"));
  add("timeout", "Rendezvous and collective timeout in seconds",
      cxxopts::value<int>()->default_value("300"));
  add("max-restarts",
      "After a worker fails, restart all of this node's workers up to K times (train: with "
      "--save-every N --resume auto they continue from the newest checkpoint)",
      cxxopts::value<int>()->default_value("0"));
  add("cpu-bind",
      "auto: with several ranks on this node, bind each to its own cores; none: leave it to the OS",
      cxxopts::value<std::string>()->default_value("auto"));
}

namespace {

std::chrono::seconds timeout_from(const cxxopts::ParseResult& r) {
  const int s = r["timeout"].as<int>();
  if (s < 1) throw UsageError("--timeout must be >= 1 second");
  return std::chrono::seconds(s);
}

}  // namespace

dist::LaunchOptions launch_options_from(const cxxopts::ParseResult& r) {
  // Values only the workers use, checked before any starts: a bad one is one line, not N.
  dist::parse_backend(r["backend"].as<std::string>());
  dist::parse_cpu_bind(r["cpu-bind"].as<std::string>());
  dist::LaunchOptions o;
  o.nproc = r["nproc"].as<int>();
  o.nnodes = r["nnodes"].as<int>();
  o.node_rank = r["node-rank"].as<int>();
  o.master_addr = r["master-addr"].as<std::string>();
  o.master_port = r["master-port"].as<int>();
  o.timeout = timeout_from(r);
  o.max_restarts = r["max-restarts"].as<int>();
  return o;
}

void refuse_distributed_flags(const cxxopts::ParseResult& r, const std::string& why) {
  for (const char* f : {"nproc", "nnodes", "node-rank", "master-addr", "master-port", "backend",
                        "timeout", "cpu-bind", "max-restarts"}) {
    if (r.count(f)) throw UsageError(std::string("--") + f + " applies to distributed runs, not " + why);
  }
}

dist::DistOptions dist_options_from(const cxxopts::ParseResult& r) {
  dist::DistOptions o;
  o.backend = dist::parse_backend(r["backend"].as<std::string>());
  o.nnodes = r["nnodes"].as<int>();
  o.node_rank = r["node-rank"].as<int>();
  o.master_addr = r["master-addr"].as<std::string>();
  o.master_port = r["master-port"].as<int>();
  o.timeout = timeout_from(r);
  o.cpu_bind = dist::parse_cpu_bind(r["cpu-bind"].as<std::string>());
  return dist::dist_options_from_env(o);
}

}  // namespace tdml::app
