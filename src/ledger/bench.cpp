#include "tdml/ledger/bench.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <random>
#include <sstream>

#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/merkle.h"
#include "tdml/ledger/update_signature.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::ledger {
namespace {

// Builds the tree over the ledger's lines and times inclusion and consistency proofs.
void bench_proofs(const std::string& path, LedgerBenchResult& res) {
  std::vector<std::string> lines;
  std::istringstream in(util::read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  util::Stopwatch build;
  MerkleTree tree;
  for (const auto& line : lines) tree.append(merkle_leaf_hash(line));
  const auto root = tree.root();
  res.tree_build_s = build.seconds();
  const std::size_t n = tree.size(), samples = 1000;
  std::mt19937_64 rng(7);
  double gen_s = 0, check_s = 0, nodes = 0;
  for (std::size_t k = 0; k < samples; ++k) {
    const std::size_t i = rng() % n;
    util::Stopwatch g;
    const auto proof = tree.inclusion_proof(i, n);
    gen_s += g.seconds();
    util::Stopwatch c;
    const bool ok = verify_inclusion(tree.leaf_hash(i), i, n, proof, root);
    check_s += c.seconds();
    TDML_CHECK(ok, "ledger bench: an inclusion proof did not verify");
    nodes += static_cast<double>(proof.size());
  }
  res.proof_us = gen_s * 1e6 / samples;
  res.proof_verify_us = check_s * 1e6 / samples;
  res.proof_nodes = nodes / samples;
  const std::size_t half = std::max<std::size_t>(1, n / 2);
  const auto cproof = tree.consistency_proof(half, n);
  res.consistency_nodes = static_cast<std::int64_t>(cproof.size());
  util::Stopwatch c;
  TDML_CHECK(verify_consistency(half, n, tree.root_at(half), root, cproof),
             "ledger bench: the consistency proof did not verify");
  res.consistency_verify_us = c.seconds() * 1e6;
}

}  // namespace

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
      UpdateClaim claim{
          client_key_id(c), round, 5000, sha256_hex(std::to_string(round * 1000 + c)), model, ""};
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
  bench_proofs(path, res);
  return res;
}

}  // namespace tdml::ledger
