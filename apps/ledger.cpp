// `tdml ledger verify|show|bench`: audit a tamper-evident ledger (see tdml/ledger/verify.h).
#include <iostream>
#include <string>
#include <thread>

#include "command.h"
#include "tdml/ledger/bench.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/verify.h"
#include "tdml/ledger/witness.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"

namespace {
using namespace tdml;

int verify(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Re-hash every block, check the chain, the signatures and the "
                        "signed head; optionally that a model file is the last block's");
  auto str = [] { return cxxopts::value<std::string>(); };
  // clang-format off
  opts.add_options()
      ("ledger", "ledger file (ledger.jsonl)", str())
      ("server-pubkey", "the server's public key you pin: 64 hex digits or server.pub.json", str())
      ("enrolled", "the clients' public keys (enrolled.json) to check their update signatures", str())
      ("keys", "a simulation's key directory (ed25519: keys.json is enough; hmac: the secrets)", str())
      ("trusted-head", "a head you saw before: the ledger must extend it (catches rollback and forks)", str())
      ("witness-pubkey", "with --trusted-head: that head must be countersigned by this witness (tdml ledger witness)", str())
      ("no-signatures", "check hashes, chain, head and Merkle root only (says what it did not check)")
      ("model", "checkpoint that must match the last block's model", str())
      ("repair", "truncate a torn last line (an interrupted append), keeping every complete block");
  // clang-format on
  opts.parse_positional({"ledger"});
  opts.positional_help("LEDGER");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("ledger")) throw UsageError("missing LEDGER (see 'tdml ledger verify --help')");
  ledger::KeyRing keys;
  ledger::VerifyOptions vo;
  if (a.count("keys") && a.count("server-pubkey")) {
    throw UsageError("give --keys (a simulation's key directory) or --server-pubkey, not both");
  }
  if (a.count("keys")) {
    keys = ledger::KeyRing::load(a["keys"].as<std::string>());
    vo.keys = &keys;
  } else if (a.count("server-pubkey")) {
    keys = ledger::KeyRing(ledger::Scheme::kEd25519);
    keys.add(
        ledger::kServerKeyId, "",
        ledger::read_pinned_public_key(a["server-pubkey"].as<std::string>(), "--server-pubkey"));
    if (a.count("enrolled")) {
      for (const auto& c : ledger::read_enrollment(a["enrolled"].as<std::string>())) {
        keys.add(c.id, "", c.public_key);
      }
    }
    vo.keys_from_genesis = true;  // the clients' keys as the (server-signed) genesis lists them
    vo.keys = &keys;
  } else if (!a.count("no-signatures")) {
    throw UsageError(
        "ledger verify: no key to check signatures with: pin the server's key "
        "(--server-pubkey, or --keys for a simulation), or pass --no-signatures "
        "to check hashes, chain and head only");
  }
  ledger::SignedHead trusted;
  if (a.count("trusted-head")) {
    trusted = ledger::SignedHead::read(a["trusted-head"].as<std::string>());
    vo.trusted_head = &trusted;
    if (a.count("witness-pubkey")) {
      const auto c = ledger::Cosigned::from_json(nlohmann::json::parse(
          util::read_file(a["trusted-head"].as<std::string>()), nullptr, false));
      const auto w = ledger::make_ed25519_verifier(
          c.witness, ledger::read_pinned_public_key(a["witness-pubkey"].as<std::string>(),
                                                    "--witness-pubkey"));
      if (!c.verify(*w)) {
        std::cout << "ledger BROKEN: the trusted head's witness signature does not verify"
                  << std::endl;
        return static_cast<int>(ExitCode::kFailure);
      }
    }
  } else if (a.count("witness-pubkey")) {
    throw UsageError("--witness-pubkey needs --trusted-head COSIGNED (tdml ledger witness)");
  }
  if (a.count("model")) vo.model_path = a["model"].as<std::string>();
  vo.repair = a.count("repair") > 0;
  auto report = ledger::verify_ledger(a["ledger"].as<std::string>(), vo);
  for (const auto& w : report.warnings) spdlog::warn("{}", w);
  std::cout << report.summary() << std::endl;
  return report.ok ? 0 : static_cast<int>(ExitCode::kFailure);
}

int show(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Print a ledger's blocks as a table (does not verify)");
  opts.add_options()("ledger", "ledger file", cxxopts::value<std::string>());
  opts.parse_positional({"ledger"});
  opts.positional_help("LEDGER");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("ledger")) throw UsageError("missing LEDGER (see 'tdml ledger show --help')");
  std::cout << ledger::format_ledger_table(a["ledger"].as<std::string>());
  return 0;
}

int ledger_bench(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Time appending and verifying a synthetic FL ledger");
  opts.add_options()("blocks", "FL rounds", cxxopts::value<int>()->default_value("1000"))(
      "clients", "clients per round", cxxopts::value<int>()->default_value("10"))(
      "sign", "ed25519 or hmac", cxxopts::value<std::string>()->default_value("ed25519"))(
      "out", "work directory", cxxopts::value<std::string>()->default_value("runs/ledger-bench"))(
      "fsync", "fsync every block (--fsync=false shows the cost of durability)",
      cxxopts::value<bool>()->default_value("true"));
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  ledger::LedgerBenchOptions o;
  o.dir = a["out"].as<std::string>();
  o.blocks = a["blocks"].as<int>();
  o.clients = a["clients"].as<int>();
  o.scheme = ledger::parse_scheme(a["sign"].as<std::string>());
  o.fsync = a["fsync"].as<bool>();
  auto r = ledger::run_ledger_bench(o);
  std::cout << "blocks " << o.blocks << ", clients " << o.clients << ", sign "
            << ledger::scheme_name(o.scheme) << ", fsync " << (o.fsync ? "on" : "off") << "\n"
            << "append: " << r.append_mean_ms << " ms/block (max " << r.append_max_ms
            << " ms, total " << r.append_total_s << " s)\n"
            << "server signature checks: " << r.server_check_ms << " ms/round\n"
            << "ledger size: " << r.bytes << " bytes\n"
            << "verify: " << r.verify_s << " s wall, " << r.verify_cpu_s << " s CPU ("
            << std::thread::hardware_concurrency() << " cores)\n"
            << "merkle tree: " << r.tree_build_s << " s to build over " << r.report.blocks
            << " blocks; inclusion proof " << r.proof_us << " us to make, " << r.proof_verify_us
            << " us to check, " << r.proof_nodes << " nodes (" << r.proof_nodes * 32
            << " bytes); consistency proof (half -> all) " << r.consistency_nodes << " nodes, "
            << r.consistency_verify_us << " us to check\n"
            << r.report.summary() << std::endl;
  return r.report.ok ? 0 : static_cast<int>(ExitCode::kFailure);
}

const app::Registration verify_reg("ledger verify", "Verify a ledger's chain and signatures",
                                   verify);
const app::Registration show_reg("ledger show", "Print a ledger's blocks", show);
const app::Registration ledger_bench_reg("ledger bench",
                                         "Time appending and verifying a synthetic FL ledger",
                                         ledger_bench);

}  // namespace
