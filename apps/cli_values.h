#pragma once
// One grammar for the values tdml's flags take, used by every command:
//   size   a number with an optional unit K, M, G or T (powers of 1024) and an optional "iB" or
//          "B" after it: 4096, 4K, 64M, 1.5GiB. Fractions are allowed with a unit (1.5G).
//   list   comma-separated values without spaces: 1,2,4 or 4K,1M.
// A malformed value is a tdml::UsageError naming the flag: "--sizes 4Q: ...".
#include <cstdint>
#include <string>
#include <vector>

namespace tdml::app {

std::int64_t parse_size(const std::string& flag, const std::string& text);
std::vector<std::int64_t> parse_size_list(const std::string& flag, const std::string& text);
std::vector<std::int64_t> parse_int_list(const std::string& flag, const std::string& text);

}  // namespace tdml::app
