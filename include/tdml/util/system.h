#pragma once
// Facts about the running process and machine, for metrics and `tdml info`.
#include <cstdint>
#include <string>

namespace tdml::util {

// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
std::int64_t peak_rss_bytes();
// Current resident set size in bytes (VmRSS), 0 if unknown.
std::int64_t current_rss_bytes();
// Total physical memory in bytes.
std::int64_t total_ram_bytes();
// Online CPU cores.
int cpu_cores();
// "Debian GNU/Linux 12 (bookworm)" or uname fallback.
std::string os_name();
// Host name.
std::string host_name();
// UTC time as ISO-8601 "2026-11-24T13:48:00Z".
std::string utc_timestamp();
// True when stdout/stderr is a terminal (progress lines are drawn only then).
bool stderr_is_tty();
// Names this process (what ps, top and pgrep show, at most 15 bytes) after the last part of
// `argv0`. A process started from its file gets that name anyway; the launcher's ranks are
// started from /proc/self/exe (the very binary the launcher runs) and would be called "exe".
// Threads started afterwards inherit the name. Does nothing where it is not supported.
void name_process_after(const char* argv0);

}  // namespace tdml::util
