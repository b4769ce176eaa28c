#pragma once
// Small file-system helpers with tdml::Error on failure (naming the path).
#include <cstdint>
#include <string>
#include <vector>

namespace tdml::util {

// Reads a whole file. Throws tdml::Error("cannot read PATH: reason").
std::string read_file(const std::string& path);

// Writes atomically: PATH.tmp-<pid> is written, fsynced, then renamed over PATH, so a crash
// leaves either the old or the new file, never a partial one.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Creates a directory and its parents; fine if it exists.
void make_dirs(const std::string& path);

}  // namespace tdml::util
