// Fuzz target: CIFAR-10 binary batches (data/cifar10.h). Input: the bytes of a .bin file, read from
// disk (read_cifar10_bin) and decoded from memory (decode_cifar10_records, which shard files go
// through).
//
// Properties: a file is accepted exactly when its size is a multiple of the 3073-byte record and
// every label is 0..9; what is accepted has one row per record and encodes back to the same bytes.
#include <torch/torch.h>

#include <cstdint>
#include <cstring>

#include "fuzz_support.h"
#include "tdml/data/cifar10.h"

namespace {

bool well_formed(const std::uint8_t* data, std::size_t size) {
  if (size % tdml::data::kCifarRecordBytes != 0) return false;
  for (std::size_t at = 0; at < size; at += tdml::data::kCifarRecordBytes) {
    if (data[at] > 9) return false;
  }
  return true;
}

void check_decoded(const tdml::data::Dataset& d, const std::uint8_t* data, std::size_t size) {
  const auto n = static_cast<std::int64_t>(size / tdml::data::kCifarRecordBytes);
  FUZZ_CHECK(d.size() == n && d.images.size(0) == n, "one row per record");
  FUZZ_CHECK(tdml::data::encode_cifar10_records(d) ==
                 std::string(reinterpret_cast<const char*>(data), size),
             "records encode back to the same bytes");
}

}  // namespace

TDML_FUZZ_TARGET(cifar10) {
  static const std::string path = tdml::fuzz::scratch_dir() + "/data_batch_1.bin";
  const bool ok = well_formed(data, size);

  auto raw = torch::empty({static_cast<std::int64_t>(size)}, torch::kUInt8);
  if (size > 0) std::memcpy(raw.data_ptr<std::uint8_t>(), data, size);
  const bool decoded = tdml::fuzz::accepts(
      [&] { check_decoded(tdml::data::decode_cifar10_records(raw, "fuzz input"), data, size); });
  FUZZ_CHECK(decoded == ok,
             ok ? "decode refused a well-formed batch" : "decode accepted a malformed batch");

  tdml::fuzz::write_bytes(path, data, size);
  const bool read =
      tdml::fuzz::accepts([&] { check_decoded(tdml::data::read_cifar10_bin(path), data, size); });
  FUZZ_CHECK(read == (ok && size > 0), read ? "read accepted a malformed or empty batch"
                                            : "read refused a well-formed batch");
  return 0;
}
