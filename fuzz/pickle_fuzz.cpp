// Fuzz target: the tensor pickle reader of checkpoint files (src/models/tensor_unpickler.cpp,
// reached through models::load_tensors). Input: the bytes of data.pkl. The target wraps them in a
// zip written by LibTorch's own PyTorchStreamWriter (as save_tensors does), next to storages data/0
// .. data/7 of 64 bytes each, so that every mutation reaches the pickle reader instead of failing
// the zip's CRC-32.
//
// Properties: load_tensors returns or throws tdml::Error (no other exception, no crash, no leak
// from a self-referencing pickle); every tensor it returns lies inside its storage.
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_support.h"
#include "tdml/models/state_dict.h"
#include "tensor_checks.h"

namespace {

constexpr int kStorages = 8;
constexpr std::size_t kStorageBytes = 64;

std::string checkpoint_with_pickle(const std::uint8_t* data, std::size_t size) {
  std::string bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&bytes](const void* p, std::size_t n) {
    bytes.append(static_cast<const char*>(p), n);
    return n;
  });
  char storage[kStorageBytes];
  for (int k = 0; k < kStorages; ++k) {
    for (std::size_t i = 0; i < kStorageBytes; ++i) storage[i] = static_cast<char>(k * 31 + i);
    writer.writeRecord("data/" + std::to_string(k), storage, kStorageBytes);
  }
  writer.writeRecord("data.pkl", data, size);
  writer.writeEndOfFile();
  return bytes;
}

}  // namespace

TDML_FUZZ_TARGET(pickle) {
  static const std::string path = tdml::fuzz::scratch_dir() + "/pickle.pt";
  tdml::fuzz::write_bytes(path, checkpoint_with_pickle(data, size));
  tdml::fuzz::accepts(
      [&] { tdml::fuzz::check_tensors_in_bounds(tdml::models::load_tensors(path)); });
  return 0;
}
