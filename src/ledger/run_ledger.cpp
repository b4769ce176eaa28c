#include "tdml/ledger/run_ledger.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "tdml/util/error.h"

namespace tdml::ledger {

RunLedger open_run_ledger(const RunLedgerOptions& o) {
  TDML_CHECK(!o.path.empty(), "open_run_ledger: no ledger path");
  RunLedger r;
  if (!o.keys_dir.empty()) {
    r.keys = KeyRing::load(o.keys_dir);
    r.keys_dir = o.keys_dir;
  } else {
    TDML_CHECK(!o.fresh_keys_dir.empty(), "open_run_ledger: neither keys_dir nor fresh_keys_dir");
    r.keys_dir = o.fresh_keys_dir;
    if (std::filesystem::exists(o.fresh_keys_dir + "/keys.json")) {
      r.keys = KeyRing::load(o.fresh_keys_dir);
      spdlog::info("ledger keys: reusing {}", o.fresh_keys_dir);
    } else {
      r.keys = KeyRing::generate(parse_scheme(o.scheme), o.clients);
      r.keys.save(o.fresh_keys_dir);
      spdlog::info("ledger keys: fresh {} keys in {} (public manifest keys.json)", o.scheme,
                   o.fresh_keys_dir);
    }
  }
  if (!r.keys.has_secret(kServerKeyId)) {
    throw Error("ledger keys in " + r.keys_dir + " hold no secret for \"server\": the run signs "
                "every block with it (tdml keys gen writes one)");
  }
  Genesis g;
  g.run_id = new_run_id();
  g.run_kind = o.run_kind;
  g.trust = "simulation";  // one operator: this process holds every key
  g.config_hash = o.config_hash;
  g.data_hash = o.data_hash;
  g.keys = genesis_keys(r.keys);
  LedgerOptions lo;
  lo.fsync = o.fsync;
  lo.resume = o.resume;
  lo.genesis = &g;
  r.ledger = Ledger::open(o.path, r.keys.signer(kServerKeyId), lo);
  spdlog::info("ledger: {} ({} blocks so far, {} signatures)", o.path, r.ledger->size(),
               scheme_name(r.keys.scheme()));
  return r;
}

}  // namespace tdml::ledger
