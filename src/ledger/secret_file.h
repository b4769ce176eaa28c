#pragma once
// Reading and writing secret key files (internal to ledger: keys.cpp and key_files.cpp share it).
#include <nlohmann/json.hpp>
#include <string>

namespace tdml::ledger {

// Writes `bytes` to PATH atomically (PATH.tmp-<pid>, fsync, rename), created 0600 from the
// start so there is no window in which others could read it.
void write_secret_file(const std::string& path, const std::string& bytes);

// Opens PATH with O_NOFOLLOW and parses it as JSON after checking that it is a regular file
// owned by the current user, that neither group nor others may read or write it, and that it
// is at most 4 KiB. Each refusal is a tdml::Error naming the path and the fix. The raw text is
// wiped from memory after parsing.
nlohmann::json read_secret_file(const std::string& path);

}  // namespace tdml::ledger
