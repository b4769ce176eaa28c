#pragma once
// CIFAR-10 in the official binary layout: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin,
// each record 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32), 10000 records a file.
#include <string>

#include "tdml/data/dataset.h"

namespace tdml::data {

constexpr int kCifarImageBytes = 3 * 32 * 32;
constexpr int kCifarRecordBytes = 1 + kCifarImageBytes;

// Accepts either the batches folder itself or a folder that contains cifar-10-batches-bin/.
// Returns the batches folder. Throws tdml::Error naming the path and the missing files when the
// layout is wrong.
std::string resolve_cifar10_dir(const std::string& dir);

// Loads one split into memory (train: data_batch_1..5 concatenated; test: test_batch).
// Every problem is a tdml::Error naming the file: missing file, size not a multiple of 3073
// (truncated), label outside 0..9.
Dataset load_cifar10(const std::string& dir, Split split);

// Reads a single .bin file of records (used by load_cifar10, exposed for tests).
Dataset read_cifar10_bin(const std::string& path);

// Writes records in the official layout (images uint8 [N,3,32,32], labels int64 [N] in 0..9).
void write_cifar10_bin(const std::string& path, const Dataset& d);

// The bytes write_cifar10_bin writes (for callers that also hash them).
std::string encode_cifar10_records(const Dataset& d);

// Records already in memory (`raw`: uint8 [bytes], which the result does not alias); `path`
// names them in errors. Checks as read_cifar10_bin, except that zero records are accepted.
Dataset decode_cifar10_records(const torch::Tensor& raw, const std::string& path);

}  // namespace tdml::data
