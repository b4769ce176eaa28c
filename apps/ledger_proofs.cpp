// `tdml ledger prove|consistency|check-proof`: Merkle proofs against a ledger's signed tree head
// (see tdml/ledger/proofs.h).
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "command.h"
#include "tdml/federation/protocol.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/proofs.h"
#include "tdml/ledger/witness.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace {
using namespace tdml;

// Writes the proof to --out, or to stdout.
void emit(const nlohmann::json& proof, const cxxopts::ParseResult& a) {
  const auto text = proof.dump(1) + "\n";
  if (a.count("out")) {
    util::write_file_atomic(a["out"].as<std::string>(), text);
  } else {
    std::cout << text;
  }
}

int prove(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Print an inclusion proof of block I (and of a client's entry "
                        "in it) against the ledger's current signed head");
  opts.add_options()("ledger", "ledger file", cxxopts::value<std::string>())(
      "index", "block index", cxxopts::value<std::int64_t>())(
      "client", "also prove this client's entry in the block", cxxopts::value<std::string>())(
      "out", "write the proof here (default: stdout)", cxxopts::value<std::string>());
  opts.parse_positional({"ledger"});
  opts.positional_help("LEDGER");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("ledger") || !a.count("index")) {
    throw UsageError("usage: tdml ledger prove LEDGER --index I [--client ID]");
  }
  emit(ledger::prove_inclusion(a["ledger"].as<std::string>(), a["index"].as<std::int64_t>(),
                               a.count("client") ? a["client"].as<std::string>() : ""),
       a);
  return 0;
}

int consistency(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Print a proof that the ledger's current head extends an older "
                        "head (no rollback, fork or rewritten block)");
  opts.add_options()("ledger", "ledger file", cxxopts::value<std::string>())(
      "old-head", "the older head (a saved ledger.head)", cxxopts::value<std::string>())(
      "out", "write the proof here (default: stdout)", cxxopts::value<std::string>());
  opts.parse_positional({"ledger"});
  opts.positional_help("LEDGER");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("ledger") || !a.count("old-head")) {
    throw UsageError("usage: tdml ledger consistency LEDGER --old-head FILE");
  }
  emit(ledger::prove_consistency(a["ledger"].as<std::string>(),
                                 ledger::SignedHead::read(a["old-head"].as<std::string>())),
       a);
  return 0;
}

int check_proof(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Check a proof offline against a head you trust (inclusion: "
                        "that head; consistency: the older head it extends)");
  opts.add_options()("proof", "proof file (ledger prove / ledger consistency)",
                     cxxopts::value<std::string>())("head", "the head you trust",
                                                    cxxopts::value<std::string>())(
      "server-pubkey", "the server's public key: 64 hex digits or server.pub.json",
      cxxopts::value<std::string>());
  opts.parse_positional({"proof"});
  opts.positional_help("PROOF");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("proof") || !a.count("head")) {
    throw UsageError("usage: tdml ledger check-proof PROOF --head HEAD [--server-pubkey KEY]");
  }
  const auto proof =
      nlohmann::json::parse(util::read_file(a["proof"].as<std::string>()), nullptr, false);
  const auto head = ledger::SignedHead::read(a["head"].as<std::string>());
  std::unique_ptr<ledger::Verifier> server;
  if (a.count("server-pubkey")) {
    server = ledger::make_ed25519_verifier(
        ledger::kServerKeyId,
        ledger::read_pinned_public_key(a["server-pubkey"].as<std::string>(), "--server-pubkey"));
  }
  const auto c = ledger::check_proof(proof, head, server.get());
  std::cout << (c.ok ? "proof OK: " + c.summary : "proof INVALID: " + c.reason) << std::endl;
  return c.ok ? 0 : static_cast<int>(ExitCode::kFailure);
}

int check_receipts(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Prove that a federation client's receipted updates are in the "
                        "ledger (receipts.jsonl: every line is checked)");
  opts.add_options()("receipts", "a receipt, or a client's receipts.jsonl",
                     cxxopts::value<std::string>())("ledger", "the server's ledger",
                                                    cxxopts::value<std::string>())(
      "server-pubkey", "the server's public key: 64 hex digits or server.pub.json",
      cxxopts::value<std::string>());
  opts.parse_positional({"receipts"});
  opts.positional_help("RECEIPTS");
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("receipts") || !a.count("ledger") || !a.count("server-pubkey")) {
    throw UsageError(
        "usage: tdml ledger check-receipt RECEIPTS --ledger LEDGER --server-pubkey KEY");
  }
  const auto key =
      ledger::read_pinned_public_key(a["server-pubkey"].as<std::string>(), "--server-pubkey");
  std::istringstream in(util::read_file(a["receipts"].as<std::string>()));
  int n = 0, bad = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    ++n;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    std::string why = "not a JSON receipt";
    if (!j.is_discarded()) {
      try {
        const auto r = federation::Receipt::from_json(j);
        why = federation::check_receipt(r, a["ledger"].as<std::string>(), key);
        if (why.empty()) {
          std::cout << "receipt OK: round " << r.round << ", " << r.client_id << ", block "
                    << r.block_index << "\n";
          continue;
        }
      } catch (const Error& e) {
        why = e.what();
      }
    }
    ++bad;
    std::cout << "receipt " << n << " INVALID: " << why << "\n";
  }
  if (n == 0) throw UsageError("no receipt in " + a["receipts"].as<std::string>());
  std::cout << (bad ? "receipts INVALID: " : "receipts OK: ") << n - bad << " of " << n
            << " in the ledger" << std::endl;
  return bad ? static_cast<int>(ExitCode::kFailure) : 0;
}

int witness(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Countersign a server's head, only if it extends the last head "
                        "this witness countersigned (refuses forks and rollbacks)");
  opts.add_options()("head", "the head to countersign (the server's ledger.head)",
                     cxxopts::value<std::string>())(
      "key", "the witness' secret key (tdml keys gen --id witness-1)",
      cxxopts::value<std::string>())("store", "the witness' folder (last.head, cosigned-N.json)",
                                     cxxopts::value<std::string>())(
      "proof", "consistency proof from STORE/last.head (tdml ledger consistency)",
      cxxopts::value<std::string>())("server-pubkey",
                                     "the server's public key: the head must carry its signature",
                                     cxxopts::value<std::string>());
  cxxopts::ParseResult a;
  if (!app::parse(opts, argc, argv, a)) return 0;
  if (!a.count("head") || !a.count("key") || !a.count("store")) {
    throw UsageError(
        "usage: tdml ledger witness --head HEAD --key W.key --store DIR "
        "[--proof C.json] [--server-pubkey KEY]");
  }
  const auto key = ledger::read_secret_key(a["key"].as<std::string>());
  const auto signer = ledger::make_ed25519_signer(key.id, key.secret);
  std::unique_ptr<ledger::Verifier> server;
  if (a.count("server-pubkey")) {
    server = ledger::make_ed25519_verifier(
        ledger::kServerKeyId,
        ledger::read_pinned_public_key(a["server-pubkey"].as<std::string>(), "--server-pubkey"));
  }
  nlohmann::json proof;
  if (a.count("proof"))
    proof = nlohmann::json::parse(util::read_file(a["proof"].as<std::string>()));
  const auto c = ledger::witness_head(ledger::SignedHead::read(a["head"].as<std::string>()),
                                      *signer, a["store"].as<std::string>(), server.get(),
                                      a.count("proof") ? &proof : nullptr);
  std::cout << "witness " << c.witness << " countersigned the head of " << c.head.size
            << " blocks: " << a["store"].as<std::string>() << "/cosigned-" << c.head.size << ".json"
            << std::endl;
  return 0;
}

const app::Registration witness_reg("ledger witness",
                                    "Countersign a head that extends the last one seen", witness);
const app::Registration prove_reg("ledger prove", "Inclusion proof of a block (and client entry)",
                                  prove);
const app::Registration consistency_reg("ledger consistency",
                                        "Proof that the ledger extends an older head", consistency);
const app::Registration check_receipt_reg("ledger check-receipt",
                                          "Prove a client's receipts against the ledger",
                                          check_receipts);
const app::Registration check_proof_reg("ledger check-proof", "Check a ledger proof offline",
                                        check_proof);

}  // namespace
