#pragma once
// Internal: reading ledger lines and checking one block's self-consistency. Shared by Ledger
// (continuing a chain) and verify_ledger.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/ledger/signed_head.h"

namespace tdml::ledger::detail {

struct Lines {
  std::vector<std::string> complete;  // lines that ended with '\n' (without it)
  std::size_t complete_bytes = 0;     // bytes up to and including the last '\n'
  std::string torn;                   // bytes after the last '\n' (an unfinished append)
};
Lines split_lines(const std::string& data);

// The longest line a ledger may hold (an FL round of thousands of clients is a few MB).
inline constexpr std::size_t kMaxLedgerLine = 64u << 20;

// Reads a ledger file after checking, in one streaming pass of bounded memory, that it is text a
// ledger can be: no NUL byte (canonical JSON escapes every control character) and no line over
// kMaxLedgerLine. Garbage (a binary file, a gigabyte of noise) is refused at its first bad
// byte with one tdml::Error naming the file and the offset, before any of it is held in memory.
std::string read_ledger_text(const std::string& path);

struct Block {
  nlohmann::json body;     // the parsed line without hash and server_sig
  std::string hash;        // stored hash (verified to match body)
  std::string server_sig;  // stored signature (hex, not verified here)
  std::int64_t index = -1;
  std::string prev_hash;
};

// Parses `line` and checks it is canonical JSON and that its hash re-computes. Returns "" and
// fills `out`, or the reason it fails.
std::string check_block(const std::string& line, Block& out);

// Parses a head file's text (signed_head.h); returns "" or the reason it is malformed.
std::string parse_head(const std::string& text, SignedHead& out);

// The Merkle leaf of a block: merkle_leaf_hash of its line (without the newline).
std::string block_leaf(const std::string& line);

}  // namespace tdml::ledger::detail
