#include "tdml/ledger/bench.h"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/update_signature.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::ledger {

LedgerBenchResult run_ledger_bench(const LedgerBenchOptions& o) {
  if (o.blocks < 1 || o.clients < 1) throw UsageError("--blocks and --clients must be >= 1");
  LedgerBenchResult res;
  const std::string keys_dir = o.dir + "/keys";
  const std::string path = o.dir + "/ledger.jsonl";
  std::filesystem::remove(path);
  std::filesystem::remove(head_path(path));
  KeyRing keys = KeyRing::generate(o.scheme, o.clients);
  keys.save(keys_dir, /*overwrite=*/true);

  auto ledger = Ledger::open(path, keys.signer(kServerKeyId), LedgerOptions{o.fsync});
  std::string model = sha256_hex("initial model");
  double check_s = 0;
  util::Progress progress("ledger bench", o.blocks, "blocks");
  for (int round = 1; round <= o.blocks; ++round) {
    RoundRecord rec;
    rec.round = round;
    rec.model_before = model;
    rec.aggregator = "fedavg";
    rec.aggregator_params = {{"clip", 5.0}};
    for (int c = 0; c < o.clients; ++c) {
      UpdateClaim claim{client_key_id(c), round, 5000, sha256_hex(std::to_string(round * 1000 + c)),
                        model};
      ClientEntry e{claim.client_id,         claim.update_hash, claim.samples, "",
                    UpdateStatus::kAccepted, 1.0 + 0.01 * c,    0.1 * c,       ""};
      e.signature = sign_update(*keys.signer(claim.client_id), claim);
      if (c % 10 == 9) claim.samples = 50000;  // a client lying about its sample count
      util::Stopwatch sw;
      bool good = verify_update_signature(keys, claim, e.signature);
      check_s += sw.seconds();
      if (!good) {
        e.status = UpdateStatus::kRefused;
        e.reason = "bad signature";
        e.samples = claim.samples;
      }
      rec.clients.push_back(e);
    }
    model = sha256_hex(model + std::to_string(round));
    rec.model_after = model;
    rec.metrics = {{"test_acc", 0.1 + 0.5 * round / o.blocks}, {"round_s", 3.25}};
    util::Stopwatch sw;
    ledger->append(rec);
    const double dt = sw.seconds();
    res.append_total_s += dt;
    res.append_max_ms = std::max(res.append_max_ms, dt * 1e3);
    progress.tick();
  }
  progress.finish();
  ledger.reset();
  res.append_mean_ms = res.append_total_s * 1e3 / o.blocks;
  res.server_check_ms = check_s * 1e3 / o.blocks;
  res.bytes = static_cast<std::int64_t>(std::filesystem::file_size(path));

  KeyRing verify_keys = KeyRing::load(keys_dir);
  VerifyOptions vo;
  vo.keys = &verify_keys;
  util::Stopwatch sw;
  const std::clock_t cpu0 = std::clock();
  res.report = verify_ledger(path, vo);
  res.verify_cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  res.verify_s = sw.seconds();
  return res;
}

}  // namespace tdml::ledger
