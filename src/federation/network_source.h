#pragma once
// The server's side of the wire: the gRPC service that clients Join, and the fl::UpdateSource
// the round engine collects from. One thread per connected client reads its stream (gRPC's
// synchronous server); the engine's thread writes tasks and receipts under a per-connection
// lock. A connection that ends marks its client dropped; a client that reconnects replaces its
// older connection. Every receipt issued is kept and sent again on each (re)connection, so a
// client that lost its connection (or its process) before a receipt reached it still gets it;
// the client keeps one copy of each. A client that connects after the run ended gets its
// receipts and Done.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "federation.grpc.pb.h"
#include "federation/wire_check.h"
#include "tdml/federation/protocol.h"
#include "tdml/fl/round_engine.h"

namespace tdml::federation {

struct SourceConfig {
  std::string run_id;
  std::vector<std::string> ids;  // enrolled client ids; a client's index is its position
  std::int64_t params = 0, buffers = 0;
  nlohmann::json recipe;
  double round_timeout = 120;
  double join_timeout = 300;
  int wait_for = 1;  // connected clients a round waits for before sampling
  bool insecure = false;
};

class NetworkSource final : public wire::Federation::Service, public fl::UpdateSource {
 public:
  explicit NetworkSource(SourceConfig config);

  // gRPC: one call per client connection.
  grpc::Status Join(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<wire::ServerMessage, wire::ClientMessage>* stream) override;

  // fl::UpdateSource
  std::vector<int> available(int round) override;
  fl::Missing collect(const fl::RoundContext& ctx, const std::vector<int>& sampled,
                      const std::function<void(fl::ClientUpdate)>& got) override;
  fl::CommBytes bytes(const fl::RoundContext& ctx,
                      const std::vector<fl::ClientUpdate>& updates) override;
  std::string counted() const override { return "wire"; }
  double transport_seconds() const override { return transport_s_; }
  double client_compute_seconds() const override { return compute_s_; }

  // Keeps a signed receipt for a client and sends it now if the client is connected (else on
  // its next connection).
  void issue_receipt(int client, const Receipt& r);
  // Tells every connected client the run is over and stops accepting updates; clients that
  // connect later are told so too (with their receipts).
  void finish(const std::string& final_model_hash, const std::string& reason);
  // After finish: waits until every enrolled client has been sent Done, up to `seconds`.
  // Returns how many were not.
  int linger(double seconds);

 private:
  struct Conn;
  using Clock = std::chrono::steady_clock;
  struct Arrival {
    fl::ClientUpdate update;
    Clock::time_point at;
    double compute_s = 0;
  };
  bool write(const std::shared_ptr<Conn>& c, const wire::ServerMessage& m);
  // Writes a Task and the chunks of the global state (parameters, buffers) as one sequence;
  // returns the bytes written, or -1 when the connection failed.
  std::int64_t write_task(const std::shared_ptr<Conn>& c, const wire::ServerMessage& task,
                          const std::vector<std::string_view>& state);
  std::string check_update(int client, const wire::Update& u) const;
  // A whole update read from client's connection c (`bytes` on the wire, chunks included).
  void on_update(int client, const std::shared_ptr<Conn>& c, const UpdateReader& reader,
                 std::int64_t bytes);

  SourceConfig cfg_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::shared_ptr<Conn>> conns_;  // live connection per client index
  bool finished_ = false;
  wire::ServerMessage done_;              // the Done message, once finished
  std::set<int> told_done_;               // clients Done was written to
  std::map<int, std::vector<wire::ServerMessage>> issued_;  // receipts per client index
  // The attempt in flight.
  int round_ = 0, attempt_ = -1;
  std::set<int> waiting_;  // sampled, no update yet, still connected
  std::set<int> dropped_;
  std::map<int, Arrival> arrived_;
  Clock::time_point sent_at_;
  std::int64_t bytes_down_ = 0, bytes_up_ = 0;
  double transport_s_ = 0, compute_s_ = 0;
  int attempts_this_round_ = 0;
  int last_round_ = 0;
};

}  // namespace tdml::federation
