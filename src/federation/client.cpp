#include "tdml/federation/client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "federation.grpc.pb.h"
#include "federation/chunks.h"
#include "federation/recipe.h"
#include "federation/tensor_bytes.h"
#include "federation/tls.h"
#include "tdml/federation/protocol.h"
#include "tdml/fl/client.h"
#include "tdml/fl/ledger_hooks.h"
#include "tdml/fl/model_hash.h"
#include "tdml/fl/shards.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/update_signature.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::federation {
namespace {

BeforeSendHook g_before_send = nullptr;
ReceiptHook g_receipt_hook = nullptr;

// OUT/receipts.jsonl as a previous run of this client left it: one receipt per line. An
// unterminated last line is a write torn by a crash: it is cut off (the server sends every
// receipt again on each connection). Any other line that is not a receipt is an error.
std::vector<Receipt> load_receipts(const std::string& path) {
  std::vector<Receipt> held;
  if (!std::filesystem::exists(path)) return held;
  auto text = util::read_file(path);
  if (const auto end = text.rfind('\n') + 1; end != text.size()) {
    spdlog::warn("fl client: {} ends with a torn line ({} bytes); cut off", path,
                 text.size() - end);
    text.resize(end);
    util::write_file_atomic(path, text);
  }
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.empty()) continue;
    try {
      held.push_back(Receipt::from_json(nlohmann::json::parse(line)));
    } catch (const std::exception& e) {
      throw Error(path + " line " + std::to_string(n) + " is not a receipt (" + e.what() + ")");
    }
  }
  return held;
}


// One client process: its key, its shard, and (once the server's recipe is known) the pool that
// trains it, holding this client only.
class Party {
 public:
  explicit Party(const ClientOptions& o)
      : o_(o),
        key_(ledger::read_secret_key(o.key)),
        shard_(fl::load_client_shard(o.data).data),
        attack_(fl::parse_client_attack(o.attack)) {
    if (key_.id != o.id) {
      throw UsageError("--key " + o.key + " is " + key_.id + "'s key, not " + o.id + "'s");
    }
    if (attack_.adaptive()) {
      throw UsageError("--attack " + o.attack + " is omniscient: it crafts its update from the "
                       "round's benign updates, which a federation client never sees (it runs "
                       "in the simulation, `tdml fl` without --nproc)");
    }
    ledger::KeyRing ring(ledger::Scheme::kEd25519);
    ring.add(o.id, key_.secret);
    signer_ = ring.signer(o.id);
    if (!o.server_pubkey.empty()) {
      const auto pub = ledger::read_public_key(o.server_pubkey);
      server_ = ledger::make_ed25519_verifier(pub.id, pub.public_key);
    }
    if (!o.out.empty()) open_out();
    spdlog::info("fl client {}: {} samples from {}, attack {}", o.id, shard_.size(), o.data,
                 attack_.to_string());
  }

  // The answer to a task: the update message and its tensors' bytes (trains, attacks, signs).
  struct Answer {
    wire::Update update;
    std::string update_bytes, buffers_bytes;
  };
  Answer answer(const wire::Task& t, const std::vector<torch::Tensor>& state,
                const std::string& run_id, int index) {
    util::Stopwatch watch;
    const auto recipe = nlohmann::json::parse(t.recipe_json());
    ensure_pool(recipe, index);
    fl::RoundContext ctx{t.round(), state[0].to(opts_.device), state[1].to(opts_.device), ""};
    ctx.model_hash = (*hash_)(ctx.global_params, ctx.global_buffers);  // of what it received
    auto u = pool_->run(index, ctx);
    ledger::UpdateClaim claim{o_.id,
                              t.round(),
                              u.samples,
                              ledger::tensor_hash(u.update.to(torch::kCPU).contiguous()),
                              fl::FlLedger::base_model_hash(ctx),
                              run_id};
    Answer a;
    auto& m = a.update;
    m.set_run_id(run_id);
    m.set_round(t.round());
    m.set_attempt(t.attempt());
    m.set_samples(u.samples);
    m.set_loss(u.loss);
    a.update_bytes = tensor_bytes(u.update);
    a.buffers_bytes = tensor_bytes(u.buffers);
    m.set_update_bytes(static_cast<std::int64_t>(a.update_bytes.size()));
    m.set_buffers_bytes(static_cast<std::int64_t>(a.buffers_bytes.size()));
    m.set_base_model_hash(claim.base_model_hash);
    m.set_update_hash(claim.update_hash);
    m.set_signature(ledger::sign_update(*signer_, claim));
    m.set_compute_seconds(watch.seconds());
    spdlog::info("fl client {}: round {} update sent (loss {:.4f}, {:.1f} s)", o_.id, t.round(),
                 u.loss, watch.seconds());
    if (mf_) {
      mf_->doc()["rounds"].push_back({{"round", t.round()},
                                      {"attempt", t.attempt()},
                                      {"loss", u.loss},
                                      {"seconds", watch.seconds()},
                                      {"update_hash", claim.update_hash}});
      mf_->flush();
    }
    return a;
  }

  // The bytes a round's task came in and its update went out in (chunks included).
  void count_bytes(std::int64_t down, std::int64_t up) {
    if (!mf_ || mf_->doc()["rounds"].empty()) return;
    auto& last = mf_->doc()["rounds"].back();
    last["bytes_down"] = down;
    last["bytes_up"] = up;
    mf_->flush();
  }

  // A receipt the server's key did not sign is an error: the server's word is worth nothing.
  void keep_receipt(const Receipt& r, const std::string& run_id) {
    if (server_ && (!verify_receipt(*server_, r) || r.run_id != run_id || r.client_id != o_.id)) {
      throw Error("receipt for round " + std::to_string(r.round) + " does not verify with " +
                  o_.server_pubkey + " (or names another run or client)");
    }
    if (o_.out.empty()) return;
    const auto line = r.to_json().dump();
    if (held_.count(line)) return;  // sent again
    if (!rounds_held_.insert({r.run_id, r.round}).second) {
      spdlog::warn("fl client {}: the server signed a second, different receipt for round {}; "
                   "both kept in receipts.jsonl (evidence)", o_.id, r.round);
    }
    std::ofstream(o_.out + "/receipts.jsonl", std::ios::app) << line << "\n" << std::flush;
    held_.insert(line);
    if (mf_) {
      mf_->doc()["receipts"] = held_.size();
      mf_->flush();
    }
  }

  void finish(const std::string& status, const std::string& why) {
    if (mf_) mf_->finish(status, why);
  }

 private:
  // OUT/metrics.json and receipts.jsonl; a restarted client (same --out) continues them.
  void open_out() {
    std::filesystem::create_directories(o_.out);
    for (const auto& r : load_receipts(o_.out + "/receipts.jsonl")) {
      held_.insert(r.to_json().dump());
      rounds_held_.insert({r.run_id, r.round});
    }
    const auto old = o_.out + "/metrics.json";
    nlohmann::json prev;
    if (std::filesystem::exists(old)) prev = nlohmann::json::parse(util::read_file(old), nullptr, false);
    if (prev.is_object() && prev.value("kind", "") == "fl_client" &&
        prev.value("client", "") == o_.id && prev.contains("rounds")) {
      mf_ = std::make_unique<metrics::MetricsFile>(metrics::MetricsFile::reopen(o_.out));
      mf_->doc()["restarts"] = prev.value("restarts", 0) + 1;
      spdlog::info("fl client {}: continuing {} ({} receipt(s) held)", o_.id, o_.out,
                   held_.size());
    } else {
      mf_ = std::make_unique<metrics::MetricsFile>(o_.out, "fl_client");
      mf_->doc()["client"] = o_.id;
      mf_->doc()["rounds"] = nlohmann::json::array();
      mf_->doc()["restarts"] = 0;
    }
    mf_->doc()["attack"] = attack_.to_string();
    mf_->doc()["samples"] = shard_.size();
    mf_->doc()["receipts"] = held_.size();
    mf_->doc()["receipts_verified"] = !o_.server_pubkey.empty();
    mf_->flush();
  }

  void ensure_pool(const nlohmann::json& recipe, int index) {
    if (pool_ && recipe == recipe_ && index == index_) return;
    opts_ = recipe_options(recipe, torch::Device(o_.device));
    TDML_CHECK(index >= 0 && index < opts_.clients, "fl client: index out of range");
    opts_.attack = o_.attack_options;
    fl::Partition part(opts_.clients, torch::empty({0}, torch::kInt64));
    part[index] = torch::arange(shard_.size(), torch::kInt64);
    std::vector<fl::ClientAttack> roles(opts_.clients);
    roles[index] = attack_;
    pool_ = std::make_unique<fl::ClientPool>(
        shard_, opts_, std::move(part),
        fl::AttackPlan::with_roles(std::move(roles), o_.attack_options, opts_.seed));
    hash_ = std::make_unique<fl::GlobalModelHash>(pool_->model());
    recipe_ = recipe;
    index_ = index;
  }

  const ClientOptions& o_;
  ledger::SecretKey key_;
  data::Dataset shard_;
  fl::ClientAttack attack_;
  std::shared_ptr<const ledger::Signer> signer_;
  std::unique_ptr<ledger::Verifier> server_;  // the server's public key, when given
  std::unique_ptr<metrics::MetricsFile> mf_;
  std::set<std::string> held_;  // receipts.jsonl's lines (as to_json().dump() writes them)
  std::set<std::pair<std::string, int>> rounds_held_;  // their (run id, round)
  fl::RunnerOptions opts_;
  nlohmann::json recipe_;
  int index_ = -1;
  std::unique_ptr<fl::ClientPool> pool_;
  std::unique_ptr<fl::GlobalModelHash> hash_;
};

enum class Session { kDone, kLost };

// Writes an update and its chunks; returns the bytes written, or -1 when the stream broke.
template <class Stream>
std::int64_t send_update(Stream& stream, Party::Answer& a, std::size_t chunk_bytes) {
  wire::ClientMessage m;
  a.update.Swap(m.mutable_update());
  if (!stream.Write(m)) return -1;
  auto bytes = static_cast<std::int64_t>(m.ByteSizeLong());
  auto* chunk = m.mutable_chunk();  // the oneof's update is cleared
  const bool sent = send_chunks({a.update_bytes, a.buffers_bytes}, chunk_bytes,
                                [&](std::int64_t offset, std::string_view b) {
                                  chunk->set_offset(offset);
                                  chunk->mutable_data()->assign(b.data(), b.size());
                                  bytes += static_cast<std::int64_t>(m.ByteSizeLong());
                                  return stream.Write(m);
                                });
  return sent ? bytes : -1;
}

using Stream = grpc::ClientReaderWriter<wire::ClientMessage, wire::ServerMessage>;

// The stream's messages, read by a thread of its own: a Read is always pending, so gRPC answers
// the server's keepalive pings while this process trains or sleeps (a synchronous client's
// connection is only served while one of its calls is; without this, a client busy for longer
// than the server's ping timeout was cut off and counted dropped), and receipts come in
// meanwhile. Whoever owns it ends the stream (the server's end, or TryCancel) before it goes.
class Inbox {
 public:
  explicit Inbox(Stream& stream) : reader_([this, &stream] { read_all(stream); }) {}
  ~Inbox() { reader_.join(); }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // The next message; false once the stream has ended and every message was taken.
  bool next(wire::ServerMessage& m) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || ended_; });
    if (queue_.empty()) return false;
    m = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }

  // Waits until the stream has ended (after WritesDone, the server ends it).
  void wait_end() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ended_; });
  }

 private:
  void read_all(Stream& stream) {
    wire::ServerMessage m;
    while (stream.Read(&m)) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(m));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<wire::ServerMessage> queue_;
  bool ended_ = false;
  std::thread reader_;  // last: it starts once the members it uses exist
};

// Cancels the call when a session leaves early (an error, a test hook), so that the Inbox's
// pending Read returns; declared after the Inbox, it runs before the Inbox joins its thread.
struct CancelOnExit {
  grpc::ClientContext& ctx;
  ~CancelOnExit() { ctx.TryCancel(); }
};

// One connection: Hello, then tasks and receipts until Done or the stream ends.
Session serve(wire::Federation::Stub& stub, Party& party, const ClientOptions& o, bool& connected) {
  grpc::ClientContext ctx;
  auto stream = stub.Join(&ctx);
  wire::ClientMessage hello;
  hello.mutable_hello()->set_client_id(o.id);
  hello.mutable_hello()->set_version(TDML_VERSION);
  wire::ServerMessage msg;
  if (!stream->Write(hello) || !stream->Read(&msg) || !msg.has_welcome()) {
    const auto st = stream->Finish();
    if (st.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
        st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      throw Error("the server refused " + o.id + ": " + st.error_message());
    }
    return Session::kLost;
  }
  connected = true;
  const auto run_id = msg.welcome().run_id();
  const int index = msg.welcome().client_index();
  spdlog::info("fl client {}: joined run {} as client {} of {}", o.id, run_id, index,
               msg.welcome().clients());
  const std::int64_t state_bytes[] = {msg.welcome().params() * 4, msg.welcome().buffers() * 4};
  wire::Task task;
  ChunkAssembler state;
  std::int64_t task_bytes = 0;
  Inbox inbox(*stream);
  const CancelOnExit cancel{ctx};
  while (inbox.next(msg)) {
    if (msg.has_task()) {
      task = msg.task();
      if (task.params_bytes() != state_bytes[0] || task.buffers_bytes() != state_bytes[1]) {
        throw Error("the server sent a task of " + std::to_string(task.params_bytes()) + " + " +
                    std::to_string(task.buffers_bytes()) + " bytes for a model of " +
                    std::to_string(state_bytes[0]) + " + " + std::to_string(state_bytes[1]));
      }
      state = ChunkAssembler({state_bytes[0], state_bytes[1]});
      task_bytes = static_cast<std::int64_t>(msg.ByteSizeLong());
    }
    if (msg.has_task() || msg.has_chunk()) {
      if (msg.has_chunk()) {
        task_bytes += static_cast<std::int64_t>(msg.ByteSizeLong());
        if (const auto why = state.add(msg.chunk().offset(), msg.chunk().data()); !why.empty()) {
          throw Error("the server sent " + why);
        }
      }
      if (!state.complete()) continue;
      auto a = party.answer(task, state.take(), run_id, index);
      std::size_t chunk_bytes = kChunkBytes;
      if (g_before_send) g_before_send(task.round(), &a.update_bytes, &chunk_bytes);
      a.update.set_update_bytes(static_cast<std::int64_t>(a.update_bytes.size()));
      const auto sent = send_update(*stream, a, chunk_bytes);
      if (sent < 0) break;
      party.count_bytes(task_bytes, sent);
    } else if (msg.has_receipt()) {
      const auto& p = msg.receipt();
      if (g_receipt_hook && g_receipt_hook(p.round())) {  // tests: lose it with the connection
        ctx.TryCancel();
        break;
      }
      party.keep_receipt({p.run_id(), p.round(), p.client_id(), p.update_hash(),
                          p.block_index(), p.signature()},
                         run_id);
    } else if (msg.has_done()) {
      spdlog::info("fl client {}: the server ended the run ({}), final model {}", o.id,
                   msg.done().reason(), msg.done().final_model_hash());
      stream->WritesDone();
      inbox.wait_end();
      stream->Finish();
      if (msg.done().reason() != "completed") throw Error(msg.done().reason());
      return Session::kDone;
    }
  }
  inbox.wait_end();
  const auto st = stream->Finish();
  spdlog::warn("fl client {}: connection lost ({}); reconnecting", o.id, st.error_message());
  return Session::kLost;
}

}  // namespace

void set_before_send_hook(BeforeSendHook hook) { g_before_send = hook; }
void set_receipt_hook(ReceiptHook hook) { g_receipt_hook = hook; }

int run_client(const ClientOptions& o) {
  if (o.server.empty() || o.id.empty() || o.key.empty() || o.data.empty()) {
    throw UsageError("fl client needs --server HOST:PORT, --id ID, --key FILE and --data DIR");
  }
  if (!o.insecure && o.tls_ca.empty()) {
    throw UsageError("fl client needs --tls-ca FILE (or --insecure on loopback)");
  }
  if (o.tls_client_cert.empty() != o.tls_client_key.empty()) {
    throw UsageError("--tls-client-cert and --tls-client-key go together");
  }
  if (!o.out.empty()) util::add_log_file(o.out + "/client.log");
  Party party(o);
  grpc::ChannelArguments args = channel_arguments(o.connect_timeout);
  args.SetMaxReceiveMessageSize(INT_MAX);  // the server this client chose (its CA) sends tasks
  args.SetMaxSendMessageSize(INT_MAX);
  auto channel = grpc::CreateCustomChannel(o.server, channel_credentials(o), args);
  auto stub = wire::Federation::NewStub(channel);
  auto last_contact = std::chrono::steady_clock::now();
  double backoff = 0.2;
  try {
    for (;;) {
      bool connected = false;
      if (serve(*stub, party, o, connected) == Session::kDone) break;
      const auto now = std::chrono::steady_clock::now();
      if (connected) {
        last_contact = now;
        backoff = 0.2;
      } else if (std::chrono::duration<double>(now - last_contact).count() > o.connect_timeout) {
        throw Error("fl client " + o.id + ": no connection to " + o.server + " for " +
                    std::to_string(static_cast<int>(o.connect_timeout)) +
                    " s (--connect-timeout)");
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      backoff = std::min(backoff * 2, 5.0);
    }
  } catch (const std::exception& e) {
    party.finish("failed", e.what());
    throw;
  }
  party.finish("completed", "");
  return 0;
}

}  // namespace tdml::federation
