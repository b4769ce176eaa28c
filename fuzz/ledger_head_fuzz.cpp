// Fuzz target: ledger head files (ledger/signed_head.h, the "ledger.head" next to a ledger). The
// seed ledger (ledger_keys.h: 2 signed FL rounds) is written next to the input as its head, then
// verified as `tdml ledger verify` does, without and with the seed keys, and opened for appending
// as a server continuing the chain does (which checks the head and may re-sign it).
//
// Properties: verify_ledger reports (never throws for a bad head; ok exactly when no reason); open
// returns or throws tdml::Error.
#include <cstdint>

#include "fuzz_support.h"
#include "ledger_keys.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/verify.h"
#include "tdml/util/fs.h"

TDML_FUZZ_TARGET(ledger_head) {
  namespace ledger = tdml::ledger;
  static const std::string path = tdml::fuzz::scratch_subdir("head") + "/ledger.jsonl";
  static const std::string head = ledger::head_path(path);
  static const std::string seed = tdml::util::read_file(tdml::fuzz::seed_ledger_path());
  const auto fresh = [&] {
    tdml::fuzz::write_bytes(path, seed);
    tdml::fuzz::write_bytes(head, data, size);
  };

  fresh();
  tdml::fuzz::accepts([&] {
    const auto r = ledger::verify_ledger(path);
    FUZZ_CHECK(r.ok == r.reason.empty(), r.summary().c_str());
  });
  ledger::VerifyOptions with_keys;
  with_keys.keys = &tdml::fuzz::seed_keys();
  tdml::fuzz::accepts([&] {
    const auto r = ledger::verify_ledger(path, with_keys);
    FUZZ_CHECK(r.ok == r.reason.empty(), r.summary().c_str());
  });
  fresh();  // open may re-sign the head
  ledger::LedgerOptions no_fsync;
  no_fsync.fsync = false;
  no_fsync.resume = true;  // continue the chain, as a resumed run does
  tdml::fuzz::accepts(
      [&] { ledger::Ledger::open(path, tdml::fuzz::seed_server_signer(), no_fsync); });
  return 0;
}
