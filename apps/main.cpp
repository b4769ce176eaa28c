// tdml: trustworthy distributed training on LibTorch. Dispatches to apps/<command>.cpp.
#include <c10/util/Exception.h>

#include <cstring>
#include <iostream>

#include "command.h"
#include "tdml/util/error.h"

namespace {

void usage(std::ostream& os) {
  os << "tdml " << TDML_VERSION << ": trustworthy distributed training on LibTorch\n\n"
     << "Usage: tdml <command> [options]   (tdml <command> --help for its options)\n\n"
     << "Commands:\n";
  for (const auto& c : tdml::app::commands()) {
    os << "  " << c.name << std::string(c.name.size() < 12 ? 12 - c.name.size() : 1, ' ')
       << c.summary << "\n";
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
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage(std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "tdml " << TDML_VERSION << "\n";
    return 0;
  }
  for (const auto& c : tdml::app::commands()) {
    if (c.name != argv[1]) continue;
    std::string prog = std::string("tdml ") + argv[1];
    argv[1] = prog.data();
    try {
      return c.run(argc - 1, argv + 1);
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
