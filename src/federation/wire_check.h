#pragma once
// Internal: the server's reading and checks of what a client sends on its stream, shared by
// NetworkSource (every connection) and check_client_messages (protocol.h; the fuzz target).
#include <string>

#include "federation.pb.h"
#include "federation/chunks.h"
#include "tdml/federation/protocol.h"

namespace tdml::federation {

// "" when `u` is for the expected run, round and attempt, announces exactly the model's
// parameter and buffer bytes and a sample count >= 1; else why it is refused.
std::string check_update(const wire::Update& u, const UpdateExpectation& e);

// "" when `u` announces exactly the model's parameter and buffer bytes, else why not (checked
// as the Update arrives, before any memory is set aside for its chunks).
std::string check_update_sizes(const wire::Update& u, std::int64_t params, std::int64_t buffers);

// One client's stream as the server reads it: an Update, then the chunks of its tensors. An
// Update whose sizes are not the model's, or chunks that do not follow on, refuse that update
// (its remaining chunks are ignored); a new Update abandons an unfinished one.
class UpdateReader {
 public:
  enum class Step {
    kMore,        // a part of an update (or a chunk of a refused one): read on
    kComplete,    // update(), update_tensor() and buffers_tensor() hold a whole update
    kRefused,     // why() says why; read on
    kUnexpected,  // not an update or chunk (a second Hello): ignored
  };
  UpdateReader(std::int64_t params, std::int64_t buffers) : params_(params), buffers_(buffers) {}

  Step read(const wire::ClientMessage& m);
  const std::string& why() const { return why_; }
  const wire::Update& update() const { return update_; }
  // The last complete update's tensors (float32, 1-D).
  const torch::Tensor& update_tensor() const { return update_tensor_; }
  const torch::Tensor& buffers_tensor() const { return buffers_tensor_; }

 private:
  std::int64_t params_, buffers_;
  wire::Update update_;
  ChunkAssembler chunks_;
  torch::Tensor update_tensor_, buffers_tensor_;
  std::string why_;
};

}  // namespace tdml::federation
