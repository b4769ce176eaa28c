// tdml: trustworthy distributed training on LibTorch. Dispatches to apps/<command>.cpp.
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <iostream>

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
       << "                      or system (glibc's defaults); see the README, \"CPU memory\"\n";
  }
}

// First line of a possibly multi-line LibTorch message.
std::string first_line(const char* what) {
  std::string s(what);
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

int main(int argc, char** argv) {
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
  // A command is one word ("train") or two ("bench throughput", "ledger verify").
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
    std::string group = std::string(argv[1]) + " ";
    bool is_group = false;
    for (const auto& c : tdml::app::commands()) is_group |= c.name.rfind(group, 0) == 0;
    if (is_group) {
      usage(argc > 2 && std::strcmp(argv[2], "--help") && std::strcmp(argv[2], "-h") ? std::cerr : std::cout, group);
      if (argc > 2 && std::strcmp(argv[2], "--help") && std::strcmp(argv[2], "-h")) {
        std::cerr << "tdml: error: unknown subcommand '" << argv[2] << "' of '" << argv[1] << "'" << std::endl;
        return 2;
      }
      return argc > 2 ? 0 : 2;
    }
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
