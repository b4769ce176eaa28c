#include "cli_values.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "tdml/util/error.h"

namespace tdml::app {
namespace {

std::vector<std::string> split_commas(const std::string& flag, const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  if (out.empty() || text.back() == ',') {
    throw UsageError("--" + flag + " '" + text + "': expected a comma-separated list such as 1,2,4");
  }
  return out;
}

}  // namespace

std::int64_t parse_size(const std::string& flag, const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return UsageError("--" + flag + " " + text + ": " + why +
                      " (a size: 4096, 4K, 64M, 1.5GiB; K/M/G/T are powers of 1024)");
  };
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw bad("not a number");
  }
  std::string unit = text.substr(used);
  if (unit.size() >= 2 && unit.compare(unit.size() - 2, 2, "iB") == 0) {
    unit.resize(unit.size() - 2);
  } else if (unit.size() == 2 && unit.back() == 'B') {
    unit.resize(1);
  }
  double mult = 1;
  if (unit.size() > 1) throw bad("unknown unit '" + unit + "'");
  if (unit.size() == 1) {
    const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
    const std::string units = "KMGT";
    const auto at = units.find(u);
    if (at == std::string::npos) throw bad("unknown unit '" + unit + "'");
    mult = std::pow(1024.0, static_cast<double>(at + 1));
  }
  const double bytes = v * mult;
  if (!(bytes >= 0) || bytes > 9.2e18) throw bad("out of range");
  if (unit.empty() && std::floor(v) != v) throw bad("a byte count must be whole");
  return static_cast<std::int64_t>(std::llround(bytes));
}

std::vector<std::int64_t> parse_size_list(const std::string& flag, const std::string& text) {
  std::vector<std::int64_t> out;
  for (const auto& item : split_commas(flag, text)) out.push_back(parse_size(flag, item));
  return out;
}

std::vector<std::int64_t> parse_int_list(const std::string& flag, const std::string& text) {
  std::vector<std::int64_t> out;
  for (const auto& item : split_commas(flag, text)) {
    std::size_t used = 0;
    std::int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw UsageError("--" + flag + " " + text + ": '" + item +
                       "' is not an integer (expected a list such as 1,2,4)");
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace tdml::app
