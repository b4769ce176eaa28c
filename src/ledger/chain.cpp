#include "chain.h"

#include <fstream>
#include <vector>

#include "tdml/util/fs.h"

#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/merkle.h"
#include "tdml/util/error.h"

namespace tdml::ledger::detail {

Lines split_lines(const std::string& data) {
  Lines out;
  std::size_t start = 0;
  while (start < data.size()) {
    auto nl = data.find('\n', start);
    if (nl == std::string::npos) break;
    out.complete.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }
  out.complete_bytes = start;
  out.torn = data.substr(start);
  return out;
}

std::string read_ledger_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read ledger " + path);
  std::vector<char> buf(1u << 20);
  std::uint64_t offset = 0, line_start = 0;
  std::int64_t nul_at = -1;  // the first NUL byte of the current line
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    for (std::size_t i = 0; i < n; ++i) {
      if (buf[i] == '\0' && nul_at < 0) nul_at = static_cast<std::int64_t>(offset + i);
      if (buf[i] != '\n') continue;
      // A NUL in the unfinished last line is a torn append (a crash can leave zeros there;
      // verify --repair removes it); in a finished line it is not a ledger.
      if (nul_at >= 0) {
        throw Error(path + " is not a tdml ledger: a NUL byte at offset " +
                    std::to_string(nul_at) + " (a ledger is JSON text, one block a line)");
      }
      line_start = offset + i + 1;
    }
    offset += n;
    if (offset - line_start > kMaxLedgerLine) {
      throw Error(path + " is not a tdml ledger: the line at offset " +
                  std::to_string(line_start) + " is longer than " +
                  std::to_string(kMaxLedgerLine >> 20) + " MiB");
    }
  }
  return util::read_file(path);
}

namespace {
bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

std::string check_block(const std::string& line, Block& out) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    return "not valid JSON";
  }
  if (!j.is_object()) return "not a JSON object";
  try {
    if (canonical_json(j) != line) return "not in canonical form (bytes were edited)";
  } catch (const Error& e) {
    return e.what();
  }
  if (!j.contains("hash") || !j["hash"].is_string()) return "no hash field";
  if (!j.contains("server_sig") || !j["server_sig"].is_string()) return "no server_sig field";
  if (!j.contains("index") || !j["index"].is_number_integer()) return "no integer index field";
  if (!j.contains("prev_hash") || !j["prev_hash"].is_string()) return "no prev_hash field";
  out.hash = j["hash"].get<std::string>();
  out.server_sig = j["server_sig"].get<std::string>();
  out.index = j["index"].get<std::int64_t>();
  out.prev_hash = j["prev_hash"].get<std::string>();
  j.erase("hash");
  j.erase("server_sig");
  if (!is_hex64(out.hash)) return "hash is not 64 lowercase hex digits";
  if (sha256_hex(canonical_json(j)) != out.hash) {
    return "hash does not match the block's contents (contents were edited)";
  }
  out.body = std::move(j);
  return "";
}

std::string parse_head(const std::string& text, SignedHead& out) {
  try {
    auto j = nlohmann::json::parse(text);
    if (canonical_json(j) + "\n" != text) return "head record is not in canonical form";
    out = SignedHead::from_json(j);
    return "";
  } catch (const std::exception& e) {
    return std::string("head record is malformed: ") + e.what();
  }
}

std::string block_leaf(const std::string& line) { return merkle_leaf_hash(line); }

}  // namespace tdml::ledger::detail
