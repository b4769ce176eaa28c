#include "federation/chunks.h"

#include <cstring>
#include <numeric>

#include "tdml/util/error.h"

namespace tdml::federation {

ChunkAssembler::ChunkAssembler(std::vector<std::int64_t> part_bytes)
    : part_bytes_(std::move(part_bytes)) {
  for (const auto b : part_bytes_) {
    TDML_CHECK(b >= 0 && b % 4 == 0, "chunk assembly: a part of " << b << " bytes");
  }
  total_ = std::accumulate(part_bytes_.begin(), part_bytes_.end(), std::int64_t{0});
  all_ = torch::empty({total_ / 4}, torch::kFloat32);
}

std::string ChunkAssembler::add(std::int64_t offset, const std::string& bytes) {
  if (!active()) return "a chunk with no task or update before it";
  std::string why;
  if (offset != got_) {
    why = "a chunk at byte " + std::to_string(offset) + " (expected " + std::to_string(got_) + ")";
  } else if (static_cast<std::int64_t>(bytes.size()) > total_ - got_) {
    why = "chunks past the announced " + std::to_string(total_) + " bytes";
  }
  if (!why.empty()) {
    reset();
    return why;
  }
  if (!bytes.empty()) {
    std::memcpy(static_cast<char*>(all_.data_ptr()) + got_, bytes.data(), bytes.size());
  }
  got_ += static_cast<std::int64_t>(bytes.size());
  return "";
}

std::vector<torch::Tensor> ChunkAssembler::take() {
  TDML_CHECK(complete(), "chunk assembly: taken before complete");
  std::vector<torch::Tensor> parts;
  std::int64_t at = 0;
  for (const auto b : part_bytes_) {
    parts.push_back(all_.narrow(0, at / 4, b / 4));
    at += b;
  }
  reset();
  return parts;
}

}  // namespace tdml::federation
