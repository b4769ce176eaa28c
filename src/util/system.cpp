#include "tdml/util/system.h"

#include <sys/utsname.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace tdml::util {
namespace {

// Reads "Key:   1234 kB" from a /proc status-style file, in bytes.
std::int64_t proc_kb_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream ss(line.substr(key.size() + 1));
      std::int64_t kb = 0;
      ss >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

}  // namespace

std::int64_t peak_rss_bytes() { return proc_kb_field("/proc/self/status", "VmHWM"); }
std::int64_t current_rss_bytes() { return proc_kb_field("/proc/self/status", "VmRSS"); }
std::int64_t total_ram_bytes() { return proc_kb_field("/proc/meminfo", "MemTotal"); }

int cpu_cores() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string os_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  struct utsname u {};
  if (::uname(&u) == 0) return std::string(u.sysname) + " " + u.release;
  return "unknown";
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

void name_process_after(const char* argv0) {
#if defined(__linux__)
  if (argv0 == nullptr) return;
  const char* slash = std::strrchr(argv0, '/');
  const char* name = slash ? slash + 1 : argv0;
  if (*name) ::prctl(PR_SET_NAME, name, 0, 0, 0);  // the kernel keeps the first 15 bytes
#else
  (void)argv0;
#endif
}

}  // namespace tdml::util
