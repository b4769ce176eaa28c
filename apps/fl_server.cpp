// `tdml fl server`: the server of a federation of independent client processes (gRPC + TLS);
// see tdml/federation/server.h and docs/federation.md.
#include <filesystem>

#include "command.h"
#include "fl_options.h"
#include "option_groups.h"
#include "tdml/federation/server.h"
#include "tdml/fl/shards.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {

void add_server_options(cxxopts::Options& opts) {
  federation::ServerOptions d;
  auto str = [](const std::string& x) { return cxxopts::value<std::string>()->default_value(x); };
  auto num = [](double x) { return cxxopts::value<double>()->default_value(std::to_string(x)); };
  // clang-format off
  opts.add_options("Federation")
      ("listen", "address:port to serve on (port 0: any free port)", str(d.listen))
      ("tls-cert", "PEM server certificate", str(""))
      ("tls-key", "PEM server private key", str(""))
      ("tls-client-ca", "PEM CA: require client certificates it signed (mutual TLS)", str(""))
      ("insecure", "plaintext, for loopback tests only (written in the log and the ledger)")
      ("enrolled", "the clients' public keys (tdml keys enroll)", str(""))
      ("key", "the server's own secret key (tdml keys gen --id server)", str(""))
      ("round-timeout", "seconds a round waits for its sampled clients; later updates are late", num(d.round_timeout))
      ("min-available", "connected clients a round waits for before sampling (0: max(min-clients, clients-per-round))", cxxopts::value<int>()->default_value("0"))
      ("join-timeout", "seconds a round waits for --min-available connected clients", num(d.join_timeout))
      ("linger", "seconds to keep answering clients that reconnect after the last round (their receipts, Done) until every enrolled client was told", num(d.linger))
      ("port-file", "write the bound port to this file once listening", str(""));
  // clang-format on
}

int fl_server_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Serve a federation: sample clients, collect signed updates, "
                                 "aggregate, sign a ledger block and receipts per round");
  fl::RunnerOptions o;
  add_model_data_options(opts, o.model, "the study's FL model");
  add_fl_recipe_options(opts);
  add_fl_server_options(opts);
  add_server_options(opts);
  add_performance_options(opts);
  add_output_options(opts, "runs/fl-server", "metrics.json, fl.log, ledger.jsonl");
  opts.add_options("Ledger")("ledger", "ledger path (default OUT/ledger.jsonl)",
                             cxxopts::value<std::string>()->default_value(""));
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  fl_model_perf_from(r, o);
  fl_recipe_from(r, o);
  fl_server_from(r, o);
  o.out_dir = r["out"].as<std::string>();
  federation::ServerOptions s;
  s.listen = r["listen"].as<std::string>();
  s.tls_cert = r["tls-cert"].as<std::string>();
  s.tls_key = r["tls-key"].as<std::string>();
  s.tls_client_ca = r["tls-client-ca"].as<std::string>();
  s.insecure = r.count("insecure") > 0;
  s.enrolled = r["enrolled"].as<std::string>();
  s.key = r["key"].as<std::string>();
  s.round_timeout = r["round-timeout"].as<double>();
  s.join_timeout = r["join-timeout"].as<double>();
  s.min_available = r["min-available"].as<int>();
  s.linger = r["linger"].as<double>();
  if (s.linger < 0) throw UsageError("fl server: --linger must be >= 0");
  s.ledger = r["ledger"].as<std::string>();
  s.port_file = r["port-file"].as<std::string>();
  const auto data_dir = r["data"].as<std::string>();
  if (data_dir == "auto") throw UsageError("fl server needs --data SHARDS/server (tdml data split)");
  util::set_threads(r["threads"].as<int>());
  // SHARDS/server (as `tdml data split` wrote it) or SHARDS itself.
  const auto shards = std::filesystem::exists(data_dir + "/test_batch.bin")
                          ? std::filesystem::path(data_dir).lexically_normal().parent_path().string()
                          : data_dir;
  const auto test = fl::load_server_test(shards.empty() ? "." : shards);
  s.data_description = data_dir;
  s.manifest = (shards.empty() ? std::string(".") : shards) + "/manifest.json";
  federation::run_server(test, o, s);
  return 0;
}

const Registration fl_server_reg("fl server", "Serve a federation of client processes (gRPC, TLS)",
                                 fl_server_main);

}  // namespace
}  // namespace tdml::app
