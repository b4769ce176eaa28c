// Fuzz target: ledger files (ledger/verify.h, ledger/ledger.h). Input: the bytes of a ledger.jsonl
// (without a head file: ledger_head_fuzz covers heads). It is verified as `tdml ledger verify`
// does, without and with the seed keys (ledger_keys.h), shown as `tdml ledger show` does, opened
// for appending as a server continuing the chain does, and repaired (a torn last line truncated).
//
// Properties: verify_ledger reports (never throws for a broken ledger; tdml::Error only when the
// file cannot be read); the report is consistent (ok exactly when no reason, the broken block
// within the blocks read); show and open return or throw tdml::Error.
#include <cstdint>
#include <filesystem>

#include "fuzz_support.h"
#include "ledger_keys.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/verify.h"

namespace {

void check_report(const tdml::ledger::VerifyReport& r) {
  const std::string s = r.summary();
  FUZZ_CHECK(r.ok == r.reason.empty(), s.c_str());
  FUZZ_CHECK(r.blocks >= 0 && r.bad_block >= -1 && r.bad_block <= r.blocks, s.c_str());
}

}  // namespace

TDML_FUZZ_TARGET(ledger) {
  namespace ledger = tdml::ledger;
  static const std::string path = tdml::fuzz::scratch_subdir("ledger") + "/ledger.jsonl";
  static const std::string head = ledger::head_path(path);
  const auto fresh = [&] {
    tdml::fuzz::write_bytes(path, data, size);
    std::filesystem::remove(head);
  };

  fresh();
  tdml::fuzz::accepts([&] { check_report(ledger::verify_ledger(path)); });
  ledger::VerifyOptions with_keys;
  with_keys.keys = &tdml::fuzz::seed_keys();
  tdml::fuzz::accepts([&] { check_report(ledger::verify_ledger(path, with_keys)); });
  tdml::fuzz::accepts([&] { ledger::format_ledger_table(path); });

  ledger::LedgerOptions no_fsync;
  no_fsync.fsync = false;
  no_fsync.resume = true;  // continue the chain, as a resumed run does
  tdml::fuzz::accepts(
      [&] { ledger::Ledger::open(path, tdml::fuzz::seed_server_signer(), no_fsync); });

  fresh();
  ledger::VerifyOptions repair;
  repair.repair = true;
  tdml::fuzz::accepts([&] { check_report(ledger::verify_ledger(path, repair)); });
  return 0;
}
