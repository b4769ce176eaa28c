#pragma once
// Tensors on the wire in chunks (federation.proto): the sender's cut and the receiver's
// assembly. A Task or an Update announces the byte counts of its tensors (parts: parameters or
// update, then buffers); Chunks of at most kChunkBytes follow it, in order.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "federation.pb.h"

namespace tdml::federation {

// The most bytes one Chunk carries: small enough that both sides work at once (the sender
// encrypts chunk k+1 while the receiver copies chunk k) and every message stays small, large
// enough that per-message costs vanish (scripts/bench/federation.sh wire).
constexpr std::size_t kChunkBytes = std::size_t{1} << 20;

// Calls send(offset, bytes) for each chunk of the concatenation of `parts` (a chunk never
// spans two parts), chunk_bytes at most; returns false as soon as send does.
template <class Send>
bool send_chunks(const std::vector<std::string_view>& parts, std::size_t chunk_bytes, Send send) {
  std::int64_t offset = 0;
  for (const auto part : parts) {
    for (std::size_t at = 0; at < part.size(); at += chunk_bytes) {
      const auto piece = part.substr(at, chunk_bytes);
      if (!send(offset, piece)) return false;
      offset += static_cast<std::int64_t>(piece.size());
    }
  }
  return true;
}

// Receives the chunks of one Task or Update into float32 tensors of the announced sizes, with
// one copy (from each chunk into the tensors' memory).
class ChunkAssembler {
 public:
  ChunkAssembler() = default;
  // part_bytes: each part's byte count, a multiple of 4.
  explicit ChunkAssembler(std::vector<std::int64_t> part_bytes);

  // The next chunk: "" when it follows on from the last one and stays within the announced
  // bytes, else why not (the assembly is then void).
  std::string add(std::int64_t offset, const std::string& bytes);
  bool active() const { return all_.defined(); }
  bool complete() const { return active() && got_ == total_; }
  // The parts as 1-D float32 tensors (views of one buffer), once complete; the assembler is
  // then inactive.
  std::vector<torch::Tensor> take();
  void reset() { *this = ChunkAssembler(); }

 private:
  std::vector<std::int64_t> part_bytes_;
  torch::Tensor all_;
  std::int64_t total_ = 0, got_ = 0;
};

}  // namespace tdml::federation
