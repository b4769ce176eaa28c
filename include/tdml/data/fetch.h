#pragma once
// Download of the official CIFAR-10 binary archive: MD5-verified, extracted member by member
// (only the expected names, no path traversal), written atomically.
#include <cstdint>
#include <string>

namespace tdml::data {

struct FetchOptions {
  std::string dir = "data";  // the archive's members land in DIR/cifar-10-batches-bin/
  std::string url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
  std::string md5 = "c32a1d4ab5d03f1284b67883e8d87530";
  std::int64_t size = 170052171;  // expected archive bytes (0 = don't check)
  int timeout_s = 600;            // whole download
  bool progress = true;           // progress line while downloading
};

// Downloads, verifies and extracts. Returns the batches folder. Does nothing (and returns it)
// when a complete copy is already there. Offline / HTTP errors / checksum mismatch: tdml::Error
// saying which, and no partial files left behind.
std::string fetch_cifar10(const FetchOptions& opts);

}  // namespace tdml::data
