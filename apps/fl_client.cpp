// `tdml fl client`: one party of a federation, with its own key and data shard; see
// tdml/federation/client.h and docs/federation.md.
#include "command.h"
#include "fl_options.h"
#include "tdml/federation/client.h"
#include "tdml/util/device.h"

namespace tdml::app {
namespace {

int fl_client_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Take part in a federation: train on this party's shard, sign "
                                 "each update with its own key, keep the server's receipts");
  federation::ClientOptions d;
  auto str = [](const std::string& x) { return cxxopts::value<std::string>()->default_value(x); };
  // clang-format off
  opts.add_options("Federation")
      ("server", "HOST:PORT of the server", str(""))
      ("tls-ca", "PEM CA that signed the server's certificate", str(""))
      ("tls-client-cert", "PEM client certificate (mutual TLS)", str(""))
      ("tls-client-key", "PEM client private key (mutual TLS)", str(""))
      ("insecure", "plaintext, for loopback tests only")
      ("id", "this client's enrolled id (e.g. client-3)", str(""))
      ("key", "this client's secret key (tdml keys gen --id ID); it never leaves this process", str(""))
      ("data", "this client's shard directory (tdml data split: SHARDS/client-K)", str(""))
      ("server-pubkey", "the server's server.pub.json: every receipt must verify with it", str(""))
      ("connect-timeout", "seconds to keep retrying while not connected", cxxopts::value<double>()->default_value(std::to_string(d.connect_timeout)));
  opts.add_options("Output")
      ("out", "receipts.jsonl, metrics.json, client.log", str("runs/fl-client"));
  opts.add_options("Performance")
      ("device", "cpu | cuda | cuda:N | auto", str("cpu"))
      ("threads", "intra-op threads (0 = all cores)", cxxopts::value<int>()->default_value("0"));
  // clang-format on
  add_fl_attack_options(opts, false);
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  federation::ClientOptions o;
  o.server = r["server"].as<std::string>();
  o.tls_ca = r["tls-ca"].as<std::string>();
  o.tls_client_cert = r["tls-client-cert"].as<std::string>();
  o.tls_client_key = r["tls-client-key"].as<std::string>();
  o.insecure = r.count("insecure") > 0;
  o.id = r["id"].as<std::string>();
  o.key = r["key"].as<std::string>();
  o.data = r["data"].as<std::string>();
  o.server_pubkey = r["server-pubkey"].as<std::string>();
  o.connect_timeout = r["connect-timeout"].as<double>();
  o.out = r["out"].as<std::string>();
  o.attack = r["attack"].as<std::string>();
  o.attack_options = fl_attack_options_from(r);
  o.device = util::resolve_device(r["device"].as<std::string>()).str();
  util::set_threads(r["threads"].as<int>());
  return federation::run_client(o);
}

const Registration fl_client_reg("fl client", "Take part in a federation as one client (gRPC, TLS)",
                                 fl_client_main);

}  // namespace
}  // namespace tdml::app
