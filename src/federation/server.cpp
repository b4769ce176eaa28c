#include "tdml/federation/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "federation/network_source.h"
#include "federation/recipe.h"
#include "federation/server_state.h"
#include "federation/tls.h"
#include "tdml/fl/ledger_hooks.h"
#include "tdml/fl/round_engine.h"
#include "tdml/ledger/block.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/ledger.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/model.h"
#include "tdml/util/allocator.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/system.h"

namespace tdml::federation {
namespace {

namespace fs = std::filesystem;

AfterRoundHook g_after_round = nullptr;
AfterRoundHook g_after_block = nullptr;

// The round of the ledger's last complete fl_round block (0: none, or no ledger yet): what a
// pending server state is settled against (server_state.h).
int last_ledger_round(const std::string& path) {
  if (!fs::exists(path)) return 0;
  const auto text = util::read_file(path);
  const auto end = text.rfind('\n');
  if (end == std::string::npos) return 0;
  const auto prev = end == 0 ? std::string::npos : text.rfind('\n', end - 1);
  const auto begin = prev == std::string::npos ? 0 : prev + 1;
  const auto line = text.substr(begin, end - begin);
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || j.value("kind", "") != "fl_round") return 0;
  const auto r = j.find("round");
  return r != j.end() && r->is_number_integer() ? r->get<int>() : 0;
}

// An update the ledger records as taken (accepted, clipped or flagged) earns a receipt.
bool earns_receipt(ledger::UpdateStatus s) {
  return s != ledger::UpdateStatus::kRejected && s != ledger::UpdateStatus::kRefused &&
         s != ledger::UpdateStatus::kLate && s != ledger::UpdateStatus::kDropped;
}

// A resumed server's receipts for the rounds already in the ledger (Ed25519 is deterministic:
// the same bytes the first server sent), so that clients that missed one still get it.
void restore_receipts(const std::string& ledger_path, const std::string& run_id,
                      const std::vector<std::string>& ids, const ledger::Signer& signer,
                      NetworkSource& source) {
  std::ifstream in(ledger_path);
  std::int64_t index = 0, restored = 0;
  for (std::string line; std::getline(in, line); ++index) {
    const auto block = nlohmann::json::parse(line, nullptr, false);
    if (!block.is_object() || block.value("kind", "") != "fl_round") continue;
    if (block.value("run_id", run_id) != run_id) continue;
    for (const auto& e : block.value("clients", nlohmann::json::array())) {
      const auto id = e.value("id", "");
      const auto k = std::find(ids.begin(), ids.end(), id);
      if (k == ids.end() || !earns_receipt(ledger::parse_status(e.value("status", "")))) continue;
      Receipt r{run_id, block.value("round", 0), id, e.value("update_hash", ""), index, ""};
      sign_receipt(signer, r);
      source.issue_receipt(static_cast<int>(k - ids.begin()), r);
      ++restored;
    }
  }
  spdlog::info("fl server: {} receipt(s) of earlier rounds kept for clients that reconnect",
               restored);
}

// What a resumed run must share with the saved one.
std::string run_config_hash(const fl::RunnerOptions& o, const std::vector<std::string>& ids) {
  return ledger::config_hash({{"recipe", recipe_json(o)},
                              {"rounds", o.rounds},
                              {"clients_per_round", o.clients_per_round},
                              {"min_clients", o.min_clients},
                              {"server_step", fl::server_step_config(o)},
                              {"enrolled", ids}});
}

void check_options(const ServerOptions& o) {
  if (o.enrolled.empty()) throw UsageError("fl server needs --enrolled FILE (tdml keys enroll)");
  if (o.key.empty()) throw UsageError("fl server needs --key FILE (tdml keys gen --id server)");
  if (!o.insecure && (o.tls_cert.empty() || o.tls_key.empty())) {
    throw UsageError("fl server needs --tls-cert and --tls-key (or --insecure on loopback)");
  }
  if (o.round_timeout <= 0 || o.join_timeout <= 0) {
    throw UsageError("fl server: --round-timeout and --join-timeout must be > 0");
  }
}

// The server holds no client secret: none beside its own key, none in the enrolment list
// (read_enrollment refuses those).
void refuse_client_secrets(const std::string& key_path,
                           const std::vector<ledger::PublicKey>& clients) {
  const auto dir = fs::path(key_path).parent_path();
  for (const auto& c : clients) {
    const auto p = fs::path(ledger::secret_key_path(dir.empty() ? "." : dir.string(), c.id));
    if (fs::exists(p)) {
      throw UsageError("the server's key directory holds client " + c.id + "'s secret (" +
                       p.string() + "): a server holds public keys only; move it to the client");
    }
  }
}

// What the ledger's genesis and metrics.json name as the transport.
std::string transport_name(const ServerOptions& o) {
  if (o.insecure) return "grpc-insecure";
  return o.tls_client_ca.empty() ? "grpc-tls" : "grpc-mtls";
}

}  // namespace

void set_after_round_hook(AfterRoundHook hook) { g_after_round = hook; }
void set_after_block_hook(AfterRoundHook hook) { g_after_block = hook; }

fl::RunResult run_server(const data::Dataset& test, fl::RunnerOptions recipe,
                         const ServerOptions& o) {
  check_options(o);
  if (recipe.out_dir.empty()) throw UsageError("fl server needs --out DIR");
  // A server runs for hours with a thread per client connection: freed memory goes back to the
  // system, or the resident size climbs round after round (util/allocator.h).
  util::return_freed_memory();
  util::make_dirs(recipe.out_dir);
  const auto clients = ledger::read_enrollment(o.enrolled);
  if (clients.empty()) throw UsageError(o.enrolled + " enrolls no client");
  const auto server_key = ledger::read_secret_key(o.key);
  refuse_client_secrets(o.key, clients);
  for (const auto& c : clients) {
    if (c.id == server_key.id) throw UsageError("client id " + c.id + " is the server's key id");
  }
  recipe.clients = static_cast<int>(clients.size());
  recipe.malicious = 0;
  if (recipe.server.aggregator.rule == "fltrust") {
    throw UsageError(
        "fltrust needs a clean root set on the server; a federation server holds "
        "only its test set (fltrust runs in the simulation, `tdml fl`)");
  }
  if (recipe.min_clients > recipe.clients) {
    throw UsageError("--min-clients " + std::to_string(recipe.min_clients) + " exceeds the " +
                     std::to_string(recipe.clients) + " enrolled clients");
  }
  recipe.validate();
  auto keys = std::make_shared<const ledger::KeyRing>(
      ledger::enrolled_key_ring(clients, ledger::kServerKeyId, server_key.secret));

  // The global model (the server's init, seeded like the simulation's) and its layouts.
  fl::ClientPool shape(
      data::Dataset{torch::empty({0, 3, 32, 32}, torch::kUInt8), torch::empty({0}, torch::kInt64),
                    10, "none: the server trains nothing"},
      recipe, fl::Partition(recipe.clients, torch::empty({0}, torch::kInt64)),
      fl::AttackPlan(recipe.clients));
  std::vector<std::string> ids;
  for (const auto& c : clients) ids.push_back(c.id);
  const auto config = run_config_hash(recipe, ids);
  const auto ledger_path = o.ledger.empty() ? recipe.out_dir + "/ledger.jsonl" : o.ledger;
  const auto saved = load_server_state(recipe.out_dir, config, shape.params(), shape.buffers(),
                                       last_ledger_round(ledger_path));
  ServerState state;
  state.run_id = saved ? saved->run_id : ledger::new_run_id();
  state.config_hash = config;
  if (saved) {
    state = *saved;
    spdlog::info("fl server: resuming run {} after round {} (from {}/server-state.json)",
                 state.run_id, state.completed_round, recipe.out_dir);
  }
  const auto& run_id = state.run_id;
  SourceConfig sc;
  sc.run_id = run_id;
  sc.ids = ids;
  sc.params = shape.params().numel();
  sc.buffers = shape.buffers().numel();
  sc.recipe = recipe_json(recipe);
  sc.round_timeout = o.round_timeout;
  sc.join_timeout = o.join_timeout;
  sc.wait_for = o.min_available > 0 ? o.min_available
                                    : std::max(recipe.min_clients, recipe.clients_per_round);
  if (sc.wait_for > recipe.clients) {
    throw UsageError("--min-available " + std::to_string(sc.wait_for) + " exceeds the " +
                     std::to_string(recipe.clients) + " enrolled clients");
  }
  sc.insecure = o.insecure;
  auto source = std::make_shared<NetworkSource>(sc);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, server_credentials(o), &port);
  builder.RegisterService(source.get());
  const int max_bytes = max_message_bytes(sc.params + sc.buffers);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  set_keepalive(builder, o.round_timeout);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) throw Error("fl server: cannot listen on " + o.listen);
  spdlog::info("fl server: run {} listening on port {} ({}), {} enrolled clients, trust mode {}",
               run_id, port, o.insecure ? "INSECURE plaintext: loopback tests only" : "TLS",
               clients.size(), o.trust);
  if (!o.port_file.empty()) std::ofstream(o.port_file) << port << "\n";

  if (!saved && fs::exists(ledger_path) && fs::file_size(ledger_path) > 0) {
    throw UsageError("the ledger " + ledger_path + " holds another run (no server state in " +
                     recipe.out_dir + " to resume): use another --out or --ledger");
  }
  ledger::Genesis genesis;
  genesis.run_id = run_id;
  genesis.run_kind = "fl";
  genesis.trust = o.trust;
  genesis.transport = transport_name(o);
  genesis.config_hash = config;
  if (!o.manifest.empty() && fs::exists(o.manifest)) {
    genesis.data_hash = util::sha256_hex(util::read_file(o.manifest));
  }
  genesis.keys.push_back({ledger::kServerKeyId, ledger::ed25519_public_key(server_key.secret)});
  for (const auto& c : clients) genesis.keys.push_back({c.id, c.public_key});
  ledger::LedgerOptions ledger_options;
  ledger_options.resume = saved.has_value();
  ledger_options.genesis = &genesis;
  auto ledger =
      ledger::Ledger::open(ledger_path, keys->signer(ledger::kServerKeyId), ledger_options);
  fl::FlLedgerOptions lo;
  lo.run_id = run_id;
  lo.client_id = [ids = sc.ids](int k) { return ids.at(k); };
  const auto signer = keys->signer(ledger::kServerKeyId);
  lo.on_block = [&](int round, std::int64_t index, const std::vector<ledger::ClientEntry>& es) {
    for (const auto& e : es) {
      if (!earns_receipt(e.status)) continue;
      Receipt r{run_id, round, e.id, e.update_hash, index, ""};
      sign_receipt(*signer, r);
      const auto k = std::find(sc.ids.begin(), sc.ids.end(), e.id) - sc.ids.begin();
      source->issue_receipt(static_cast<int>(k), r);
    }
  };
  fl::FlLedger hooks(keys, ledger.get(), recipe, lo);
  auto run_hooks = hooks.hooks();
  fl::RoundEngine* engine_ptr = nullptr;  // set below; the hook runs only inside engine.run
  run_hooks.server.on_round = [&, block = run_hooks.server.on_round](
                                  const fl::RoundContext& ctx, const fl::RoundRecord& rec,
                                  const std::vector<fl::ClientUpdate>& updates) {
    // Pending state, block, commit: a crash anywhere leaves them agreeing (server_state.h).
    state.completed_round = rec.round;
    state.rounds.push_back(rec.to_json());
    state.step = engine_ptr->step_state();
    save_server_state(recipe.out_dir, state, shape.params(), shape.buffers());
    block(ctx, rec, updates);
    if (g_after_block) g_after_block(rec.round);
    commit_server_state(recipe.out_dir);
    if (g_after_round) g_after_round(rec.round);
  };
  fl::RoundEngine engine({shape.model(), shape.params(), shape.buffers()}, *source, test, recipe,
                         run_hooks.server, nullptr, 1 + recipe.clients);
  engine_ptr = &engine;
  const nlohmann::json transport = {
      {"transport", transport_name(o)},
      {"run_id", run_id},
      {"trust", o.trust},
      {"round_timeout", o.round_timeout},
      {"enrolled", sc.ids},
      {"ledger", ledger_path}};
  if (saved) {
    restore_receipts(ledger_path, run_id, sc.ids, *signer, *source);
    engine.resume_after(state.completed_round, state.rounds);
    engine.load_step_state(state.step);
  } else {  // round 0, saved at once: a crash in round 1 resumes like any other
    state.step = engine.step_state();
    save_server_state(recipe.out_dir, state, shape.params(), shape.buffers());
    commit_server_state(recipe.out_dir);
  }
  fl::RunResult result;
  try {
    result = engine.run(o.data_description, transport);
  } catch (const std::exception& e) {
    source->finish("", std::string("the server failed: ") + e.what());
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    throw;
  }
  source->finish(result.final_model_hash, "completed");
  if (const int untold = source->linger(o.linger); untold > 0 && o.linger > 0) {
    spdlog::warn("fl server: {} client(s) did not reconnect within --linger {:.0f} s to get "
                 "their last receipts", untold, o.linger);
  }
  auto mf = metrics::MetricsFile::reopen(recipe.out_dir);
  mf.doc()["peak_rss_mib"] = static_cast<double>(util::peak_rss_bytes()) / 1048576.0;
  mf.doc()["allocator"] = util::allocator_mode();
  mf.finish("completed");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  spdlog::info("fl server: run {} completed, final model {}; ledger {} ({} blocks)", run_id,
               result.final_model_hash, ledger_path, ledger->size());
  return result;
}

}  // namespace tdml::federation
