// tdml: trustworthy distributed training on LibTorch. Dispatches to apps/<command>.cpp.
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <vector>

#include "command.h"
#include "tdml/util/allocator.h"
#include "tdml/util/error.h"
#include "tdml/util/system.h"

namespace {

// Lists the commands (only those starting with `prefix` when given).
void usage(std::ostream& os, const std::string& prefix = "") {
  os << "tdml " << TDML_VERSION << ": trustworthy distributed training on LibTorch\n\n"
     << "Usage: tdml " << (prefix.empty() ? "<command>" : prefix + "<subcommand>")
     << " [options]   (--help after a command lists its options)\n\nCommands:\n";
  auto sorted = tdml::app::commands();
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (const auto& c : sorted) {
    if (c.name.rfind(prefix, 0) != 0) continue;
    os << "  " << c.name << std::string(c.name.size() < 20 ? 20 - c.name.size() : 1, ' ')
       << c.summary << "\n";
  }
  if (prefix.empty()) {
    os << "\nEnvironment:\n"
       << "  TDML_DATA           CIFAR-10 directory for --data auto\n"
       << "  TDML_MALLOC         keep-freed (default: freed CPU memory is reused, never unmapped)\n"
       << "                      or system (glibc's defaults); see docs/performance.md\n";
  }
}

// First line of a possibly multi-line LibTorch message.
std::string first_line(const char* what) {
  std::string s(what);
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// `tdml GROUP` with a missing, unknown or --help subcommand: the group's commands and, unless
// help was asked for, one error line (exit 2). Nothing when argv[1] is not a group.
std::optional<int> group_usage(int argc, char** argv) {
  const std::string group = std::string(argv[1]) + " ";
  std::vector<std::string> subs;
  for (const auto& c : tdml::app::commands()) {
    if (c.name.rfind(group, 0) == 0) subs.push_back(c.name.substr(group.size()));
  }
  if (subs.empty()) return std::nullopt;
  std::sort(subs.begin(), subs.end());
  const bool help = argc > 2 && (!std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h"));
  usage(help ? std::cout : std::cerr, group);
  if (help) return 0;
  std::string list;
  for (const auto& s : subs) list += (list.empty() ? "" : "|") + s;
  if (argc <= 2) {
    std::cerr << "tdml: error: missing subcommand: tdml " << argv[1] << " " << list << std::endl;
  } else {
    std::cerr << "tdml: error: unknown subcommand '" << argv[1] << " " << argv[2]
              << "' (expected " << list << ")" << std::endl;
  }
  return 2;
}

// Ends the process with `rc` once stdout, stderr and the log are flushed, without static
// destructors: LibTorch's exit handlers deregister its thousands of operators one by one, 0.1 s
// of CPU at the end of every tdml process (a tenth of `tdml --help`). Everything a command writes
// is closed when its run returns. Sanitizer builds exit normally: LeakSanitizer checks at exit.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TDML_EXIT_NORMALLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define TDML_EXIT_NORMALLY 1
#endif
#endif
[[noreturn]] void exit_now(int rc) {
  std::cout.flush();
  std::cerr.flush();
  if (auto logger = spdlog::default_logger()) logger->flush();
  std::fflush(nullptr);
#ifdef TDML_EXIT_NORMALLY
  std::exit(rc);
#else
  std::_Exit(rc);
#endif
}

int run(int argc, char** argv) {
  tdml::util::keep_freed_memory();  // before the first tensor: see tdml/util/allocator.h
  tdml::util::name_process_after(argv[0]);  // ranks started from /proc/self/exe: see system.h
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage(std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "tdml " << TDML_VERSION << "\n";
    return 0;
  }
  // A command is one word ("train") or two ("bench throughput", "ledger verify"): every group
  // (bench, data, keys, ledger) is its registered two-word commands.
  const tdml::app::Command* found = nullptr;
  int words = 1;
  for (const auto& c : tdml::app::commands()) {
    if (argc > 2 && c.name == std::string(argv[1]) + " " + argv[2]) {
      found = &c;
      words = 2;
      break;
    }
    if (c.name == argv[1]) found = &c;
  }
  if (!found) {
    if (auto rc = group_usage(argc, argv)) return *rc;
  }
  if (found) {
    std::string prog = "tdml " + found->name;
    argv[words] = prog.data();
    try {
      return found->run(argc - words, argv + words);
    } catch (const tdml::Error& e) {
      std::cerr << "tdml: error: " << e.what() << std::endl;
      return e.exit_code();
    } catch (const c10::Error& e) {
      std::cerr << "tdml: error: " << first_line(e.what_without_backtrace()) << std::endl;
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "tdml: error: " << e.what() << std::endl;
      return 1;
    }
  }
  std::cerr << "tdml: error: unknown command '" << argv[1] << "' (see 'tdml --help')"
            << std::endl;
  return 2;
}

}  // namespace

int main(int argc, char** argv) { exit_now(run(argc, argv)); }
