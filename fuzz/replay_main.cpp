// Replays fuzz inputs without a fuzzer (ctest Fuzz.Replay<Name>, fuzz/CMakeLists.txt):
//   tdml_fuzz_replay NAME DIR...
// feeds every file of each DIR (in name order; a missing DIR and hidden files such as .gitkeep
// are skipped) to target NAME's entry point (TDML_FUZZ_TARGET), compiled into this binary as
// tdml_fuzz_NAME. A crash, a failed fuzz check (abort) or an escaping exception fails the run;
// each file is named before it runs, so the last name printed is the culprit.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_targets.h"  // TDML_FUZZ_TARGETS(X): X(name) for each target (fuzz/CMakeLists.txt)

#define TDML_FUZZ_DECLARE(name) \
  extern "C" int tdml_fuzz_##name(const std::uint8_t* data, std::size_t size);
TDML_FUZZ_TARGETS(TDML_FUZZ_DECLARE)
#undef TDML_FUZZ_DECLARE

namespace {

using Entry = int (*)(const std::uint8_t*, std::size_t);

struct Target {
  const char* name;
  Entry entry;
};

#define TDML_FUZZ_ENTRY(name) {#name, tdml_fuzz_##name},
const Target kTargets[] = {TDML_FUZZ_TARGETS(TDML_FUZZ_ENTRY)};
#undef TDML_FUZZ_ENTRY

std::vector<std::filesystem::path> inputs(const std::vector<std::string>& dirs) {
  std::vector<std::filesystem::path> files;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TARGET DIR...  (targets:", argv[0]);
    for (const auto& t : kTargets) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, ")\n");
    return 2;
  }
  const std::string name = argv[1];
  const auto* target = std::find_if(std::begin(kTargets), std::end(kTargets),
                                    [&](const Target& t) { return name == t.name; });
  if (target == std::end(kTargets)) {
    std::fprintf(stderr, "%s: no fuzz target '%s'\n", argv[0], name.c_str());
    return 2;
  }
  const auto files = inputs(std::vector<std::string>(argv + 2, argv + argc));
  for (const auto& f : files) {
    std::printf("%s: %s\n", name.c_str(), f.string().c_str());
    std::fflush(stdout);
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    target->entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("%s: %zu inputs replayed\n", name.c_str(), files.size());
  return files.empty() ? 1 : 0;  // no seeds at all: the corpus folder is missing
}
