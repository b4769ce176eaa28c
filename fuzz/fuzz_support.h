#pragma once
// Shared by the fuzz targets (fuzz/*_fuzz.cpp), not part of the library: a private scratch
// folder per process (the library's parsers take paths), and the check that turns a broken
// invariant into a crash the fuzzer records.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tdml/util/error.h"

// A broken property of the code under test (not bad input): report and abort, so that libFuzzer
// saves the input and a replay fails.
#define FUZZ_CHECK(cond, what)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   what);                                                                    \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// Defines target NAME's entry point: LLVMFuzzerTestOneInput in a libFuzzer executable, and
// tdml_fuzz_NAME in the replay binary, which holds every target (TDML_FUZZ_REPLAY).
#ifdef TDML_FUZZ_REPLAY
#define TDML_FUZZ_TARGET(name) \
  extern "C" int tdml_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define TDML_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace tdml::fuzz {

// A fresh folder under $TMPDIR (else /tmp), made on first use and removed at normal exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tdml-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror("tdml fuzz: mkdtemp");
      std::abort();
    }
    static std::string made = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(made, ec);
    });
    return tmpl;
  }();
  return dir;
}

// Writes `size` bytes to PATH (replacing it) with permission bits `mode`; returns PATH.
inline std::string write_bytes(const std::string& path, const std::uint8_t* data, std::size_t size,
                               mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      std::fprintf(stderr, "tdml fuzz: cannot write %s\n", path.c_str());
      std::abort();
    }
  }
  ::chmod(path.c_str(), mode);
  return path;
}

inline std::string write_bytes(const std::string& path, const std::string& bytes,
                               mode_t mode = 0600) {
  return write_bytes(path, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), mode);
}

// Runs fn; a tdml::Error is a clean rejection of bad input (printed when TDML_FUZZ_VERBOSE is
// set, to see why a seed is refused). Returns whether fn returned.
template <typename Fn>
bool accepts(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const tdml::Error& e) {
    static const bool verbose = std::getenv("TDML_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "rejected: %s\n", e.what());
    return false;
  }
}

// scratch_dir()/name, a folder made on first use.
inline std::string scratch_subdir(const std::string& name) {
  const std::string dir = scratch_dir() + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace tdml::fuzz
