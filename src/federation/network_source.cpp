#include "federation/network_source.h"

#include "federation/chunks.h"
#include "federation/tensor_bytes.h"
#include "federation/wire_check.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "tdml/util/error.h"

namespace tdml::federation {
namespace {

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}


}  // namespace

struct NetworkSource::Conn {
  int client = 0;
  std::mutex write_mu;
  grpc::ServerReaderWriter<wire::ServerMessage, wire::ClientMessage>* stream = nullptr;  // null once ended
};

NetworkSource::NetworkSource(SourceConfig config) : cfg_(std::move(config)) {}

bool NetworkSource::write(const std::shared_ptr<Conn>& c, const wire::ServerMessage& m) {
  std::lock_guard<std::mutex> lock(c->write_mu);
  return c->stream && c->stream->Write(m);
}

std::int64_t NetworkSource::write_task(const std::shared_ptr<Conn>& c, const wire::ServerMessage& task,
                                       const std::vector<std::string_view>& state) {
  std::lock_guard<std::mutex> lock(c->write_mu);  // a receipt never lands between the chunks
  if (!c->stream || !c->stream->Write(task)) return -1;
  auto bytes = static_cast<std::int64_t>(task.ByteSizeLong());
  wire::ServerMessage m;
  auto* chunk = m.mutable_chunk();
  const bool sent = send_chunks(state, kChunkBytes, [&](std::int64_t offset, std::string_view b) {
    chunk->set_offset(offset);
    chunk->mutable_data()->assign(b.data(), b.size());
    bytes += static_cast<std::int64_t>(m.ByteSizeLong());
    return c->stream->Write(m);
  });
  return sent ? bytes : -1;
}

grpc::Status NetworkSource::Join(grpc::ServerContext* context,
                                 grpc::ServerReaderWriter<wire::ServerMessage, wire::ClientMessage>* stream) {
  wire::ClientMessage first;
  if (!stream->Read(&first) || !first.has_hello()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a Hello"};
  }
  const auto& id = first.hello().client_id();
  const auto it = std::find(cfg_.ids.begin(), cfg_.ids.end(), id);
  if (it == cfg_.ids.end()) {
    spdlog::warn("fl server: refused a connection from {}: unknown client id '{}'",
                 context->peer(), id);
    return {grpc::StatusCode::PERMISSION_DENIED,
            "client id '" + id + "' is not enrolled on this server (enrolled.json)"};
  }
  auto conn = std::make_shared<Conn>();
  conn->client = static_cast<int>(it - cfg_.ids.begin());
  conn->stream = stream;
  wire::ServerMessage welcome;
  auto* w = welcome.mutable_welcome();
  w->set_run_id(cfg_.run_id);
  w->set_client_index(conn->client);
  w->set_clients(static_cast<int>(cfg_.ids.size()));
  w->set_params(cfg_.params);
  w->set_buffers(cfg_.buffers);
  w->set_insecure(cfg_.insecure);
  std::vector<wire::ServerMessage> receipts;
  bool over = false;
  {
    // One critical section with issue_receipt's: a receipt issued meanwhile is either in this
    // copy or written to this connection by issue_receipt (or both; the client keeps one).
    std::lock_guard<std::mutex> lock(mu_);
    if (!write(conn, welcome)) return {grpc::StatusCode::UNAVAILABLE, "could not welcome"};
    if (auto it = issued_.find(conn->client); it != issued_.end()) receipts = it->second;
    over = finished_;
    if (!over) {
      if (auto old = conns_.find(conn->client); old != conns_.end()) {
        spdlog::info("fl server: {} reconnected (replacing its older connection)", id);
      }
      conns_[conn->client] = conn;
      spdlog::info("fl server: {} connected from {} ({} connected)", id, context->peer(),
                   conns_.size());
    }
  }
  for (const auto& r : receipts) {
    if (!write(conn, r)) break;
  }
  if (over) {  // the run ended while this client was away: its receipts, then Done
    const bool told = write(conn, done_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (told) told_done_.insert(conn->client);
    }
    cv_.notify_all();
    spdlog::info("fl server: {} reconnected after the end: sent {} receipt(s) and Done", id,
                 receipts.size());
    wire::ClientMessage ignored;
    while (stream->Read(&ignored)) {
    }
    return grpc::Status::OK;
  }
  cv_.notify_all();
  wire::ClientMessage msg;
  UpdateReader reader(cfg_.params, cfg_.buffers);
  std::int64_t bytes = 0;  // of the update being read
  while (stream->Read(&msg)) {
    bytes += static_cast<std::int64_t>(msg.ByteSizeLong());
    switch (reader.read(msg)) {
      case UpdateReader::Step::kMore:
        continue;
      case UpdateReader::Step::kUnexpected:
        spdlog::warn("fl server: {} sent an unexpected message; ignored", id);
        break;
      case UpdateReader::Step::kRefused:  // the client stays waiting: a valid one may follow
        spdlog::warn("fl server: {}'s update refused: {}", id, reader.why());
        break;
      case UpdateReader::Step::kComplete:
        on_update(conn->client, conn, reader, bytes);
        break;
    }
    bytes = 0;
  }
  {
    std::lock_guard<std::mutex> write_lock(conn->write_mu);
    conn->stream = nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto cur = conns_.find(conn->client); cur != conns_.end() && cur->second == conn) {
      conns_.erase(cur);
      if (waiting_.erase(conn->client)) dropped_.insert(conn->client);
      if (!finished_) spdlog::warn("fl server: {} disconnected", id);
    }
  }
  cv_.notify_all();
  return grpc::Status::OK;
}

std::string NetworkSource::check_update(int client, const wire::Update& u) const {
  UpdateExpectation e;
  e.run_id = cfg_.run_id;
  e.round = round_;
  e.attempt = attempt_;
  e.params = cfg_.params;
  e.buffers = cfg_.buffers;
  e.client_id = cfg_.ids[static_cast<std::size_t>(client)];
  return federation::check_update(u, e);
}

void NetworkSource::on_update(int client, const std::shared_ptr<Conn>& c,
                              const UpdateReader& reader, std::int64_t bytes) {
  const auto now = Clock::now();
  const auto& u = reader.update();
  std::unique_lock<std::mutex> lock(mu_);
  if (conns_.count(client) == 0 || conns_[client] != c) return;
  if (!waiting_.count(client)) {
    spdlog::warn("fl server: {}'s update for round {} arrived when not expected (late or "
                 "unsampled); ignored", cfg_.ids[client], u.round());
    return;
  }
  if (const auto why = check_update(client, u); !why.empty()) {
    spdlog::warn("fl server: {}'s update refused: {}", cfg_.ids[client], why);
    return;  // stays waiting: a valid update may still come before the deadline
  }
  Arrival a;
  a.update.client = client;
  a.update.update = reader.update_tensor();
  a.update.buffers = reader.buffers_tensor();
  a.update.samples = u.samples();
  a.update.loss = u.loss();
  a.update.attestation = u.signature();
  a.at = now;
  a.compute_s = u.compute_seconds();
  bytes_up_ += bytes;
  arrived_[client] = std::move(a);
  waiting_.erase(client);
  lock.unlock();
  cv_.notify_all();
}

std::vector<int> NetworkSource::available(int round) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = Clock::now() + std::chrono::duration<double>(cfg_.join_timeout);
  const auto need = static_cast<std::size_t>(std::max(1, cfg_.wait_for));
  if (conns_.size() < need) {
    spdlog::info("fl server: round {} waits for {} connected client(s) ({} now, up to {:.0f} s)",
                 round, need, conns_.size(), cfg_.join_timeout);
  }
  cv_.wait_until(lock, deadline, [&] { return conns_.size() >= need; });
  std::vector<int> ids;
  for (const auto& [k, c] : conns_) ids.push_back(k);
  return ids;
}

fl::Missing NetworkSource::collect(const fl::RoundContext& ctx, const std::vector<int>& sampled,
                                   const std::function<void(fl::ClientUpdate)>& got) {
  if (ctx.round != last_round_) attempts_this_round_ = 0;
  last_round_ = ctx.round;
  wire::ServerMessage task;
  auto* t = task.mutable_task();
  t->set_run_id(cfg_.run_id);
  t->set_round(ctx.round);
  t->set_attempt(attempts_this_round_++);
  t->set_recipe_json(cfg_.recipe.dump());
  const auto params = tensor_bytes(ctx.global_params), buffers = tensor_bytes(ctx.global_buffers);
  t->set_params_bytes(static_cast<std::int64_t>(params.size()));
  t->set_buffers_bytes(static_cast<std::int64_t>(buffers.size()));
  t->set_deadline_seconds(cfg_.round_timeout);
  std::vector<std::pair<int, std::shared_ptr<Conn>>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    round_ = ctx.round;
    attempt_ = t->attempt();
    waiting_.clear();
    dropped_.clear();
    arrived_.clear();
    bytes_down_ = bytes_up_ = 0;
    for (int k : sampled) {
      auto it = conns_.find(k);
      if (it == conns_.end()) {
        dropped_.insert(k);
      } else {
        waiting_.insert(k);
        targets.emplace_back(k, it->second);
      }
    }
    sent_at_ = Clock::now();
  }
  for (auto& [k, c] : targets) {
    if (const auto sent = write_task(c, task, {params, buffers}); sent >= 0) {
      std::lock_guard<std::mutex> lock(mu_);
      bytes_down_ += sent;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      if (waiting_.erase(k)) dropped_.insert(k);
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = sent_at_ + std::chrono::duration<double>(cfg_.round_timeout);
  cv_.wait_until(lock, deadline, [&] { return waiting_.empty(); });
  fl::Missing missing;
  missing.late.assign(waiting_.begin(), waiting_.end());
  missing.dropped.assign(dropped_.begin(), dropped_.end());
  waiting_.clear();
  attempt_ = -1;  // later updates for this attempt are ignored
  auto arrived = std::move(arrived_);
  arrived_.clear();
  lock.unlock();
  // In client order, as the simulation delivers them (the aggregate must not depend on timing).
  transport_s_ = compute_s_ = 0;
  for (auto& [k, a] : arrived) {
    transport_s_ = std::max(transport_s_, seconds_between(sent_at_, a.at) - a.compute_s);
    compute_s_ = std::max(compute_s_, a.compute_s);
    got(std::move(a.update));
  }
  return missing;
}

fl::CommBytes NetworkSource::bytes(const fl::RoundContext&, const std::vector<fl::ClientUpdate>&) {
  std::lock_guard<std::mutex> lock(mu_);
  return {bytes_up_, bytes_down_};
}

void NetworkSource::issue_receipt(int client, const Receipt& r) {
  wire::ServerMessage m;
  auto* p = m.mutable_receipt();
  p->set_run_id(r.run_id);
  p->set_round(r.round);
  p->set_client_id(r.client_id);
  p->set_update_hash(r.update_hash);
  p->set_block_index(r.block_index);
  p->set_signature(r.signature);
  std::shared_ptr<Conn> c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    issued_[client].push_back(m);
    auto it = conns_.find(client);
    if (it == conns_.end()) return;
    c = it->second;
  }
  write(c, m);
}

void NetworkSource::finish(const std::string& final_model_hash, const std::string& reason) {
  std::vector<std::shared_ptr<Conn>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    done_.mutable_done()->set_final_model_hash(final_model_hash);
    done_.mutable_done()->set_reason(reason);
    for (auto& [k, c] : conns_) all.push_back(c);
  }
  for (auto& c : all) {
    if (write(c, done_)) {
      std::lock_guard<std::mutex> lock(mu_);
      told_done_.insert(c->client);
    }
  }
  cv_.notify_all();
}

int NetworkSource::linger(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto everyone = cfg_.ids.size();
  if (told_done_.size() < everyone && seconds > 0) {
    spdlog::info("fl server: the run is over; waiting up to {:.0f} s (--linger) for the {} "
                 "client(s) not told yet, to send them their receipts and Done",
                 seconds, everyone - told_done_.size());
  }
  cv_.wait_until(lock, Clock::now() + std::chrono::duration<double>(std::max(0.0, seconds)),
                 [&] { return told_done_.size() >= everyone; });
  return static_cast<int>(everyone - told_done_.size());
}

}  // namespace tdml::federation
