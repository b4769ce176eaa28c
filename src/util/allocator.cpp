#include "tdml/util/allocator.h"

#include <cstdlib>
#include <iostream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tdml::util {
namespace {

std::string& mode() {
  static std::string m = "system";
  return m;
}

}  // namespace

std::string keep_freed_memory() {
#if defined(__GLIBC__)
  const char* choice = std::getenv("TDML_MALLOC");
  if (choice && std::string(choice) == "system") return mode() = "system (TDML_MALLOC=system)";
  if (choice && *choice && std::string(choice) != "keep-freed") {
    std::cerr << "tdml: warning: TDML_MALLOC=" << choice
              << " is neither system nor keep-freed; using keep-freed\n";
  }
  if (std::getenv("MALLOC_MMAP_MAX_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) {
    return mode() = "system (MALLOC_* set in the environment)";
  }
  // No mmap for large blocks (they come from the heap and return to it), and never shrink the
  // heap: the next step's tensors of the same sizes reuse the same, already mapped pages.
  const bool ok = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
  return mode() = ok ? "keep-freed" : "system (mallopt refused)";
#else
  return mode() = "system (not glibc)";
#endif
}

std::string return_freed_memory() {
#if defined(__GLIBC__)
  if (mode() != "keep-freed") return mode();  // the user's choice, or not glibc
  const bool ok = mallopt(M_MMAP_MAX, 65536) == 1 && mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, 4 << 20) == 1 && mallopt(M_ARENA_MAX, 1) == 1;
  return mode() = ok ? "return-freed" : "system (mallopt refused)";
#else
  return mode();
#endif
}

const std::string& allocator_mode() { return mode(); }

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace tdml::util
