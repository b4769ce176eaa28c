#pragma once
// The one error type of tdml. Every failure a user can cause (bad option, bad file, lost rank)
// is thrown as tdml::Error with enough context to act on; `main` prints what() on one line
// and exits with exit_code(). Internal invariants may use TDML_CHECK.
#include <stdexcept>
#include <string>

namespace tdml {

// Exit codes of the `tdml` tool.
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,     // the work failed (bad data, lost rank, verification failed ...)
  kUsage = 2,       // bad command line
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::kFailure)
      : std::runtime_error(what), code_(code) {}
  int exit_code() const { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

// A bad command-line value: exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what, ExitCode::kUsage) {}
};

}  // namespace tdml

// Throws tdml::Error(msg) when cond is false. msg may use stream syntax: "x=" << x.
#define TDML_CHECK(cond, msg)                              \
  do {                                                     \
    if (!(cond)) {                                         \
      std::ostringstream tdml_check_os_;                   \
      tdml_check_os_ << msg;                               \
      throw ::tdml::Error(tdml_check_os_.str());           \
    }                                                      \
  } while (0)
#include <sstream>
