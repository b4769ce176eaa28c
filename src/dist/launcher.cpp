#include "tdml/dist/launcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tdml/util/error.h"
#include "tdml/util/fs.h"

extern char** environ;

namespace tdml::dist {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int sig) { g_interrupted = sig; }

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  int out_fd = -1;  // its stdout
  int err_fd = -1;  // its stderr
  std::string out_partial, err_partial;
  bool running = true;
  int status = 0;
};

std::vector<std::string> own_command_line() {
  const std::string raw = util::read_file("/proc/self/cmdline");
  std::vector<std::string> args;
  std::string cur;
  for (char c : raw) {
    if (c == '\0') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) args.push_back(cur);
  return args;
}

std::string describe(int status) {
  std::ostringstream os;
  if (WIFEXITED(status)) {
    os << "exited with status " << WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    os << "was killed by signal " << WTERMSIG(status) << " (" << ::strsignal(WTERMSIG(status))
       << ")";
  } else {
    os << "ended with wait status " << status;
  }
  return os.str();
}

// Writes complete lines of `chunk` to `stream` with the prefix; keeps the incomplete tail.
void forward(std::string& partial, const char* data, std::size_t n, FILE* stream,
             const std::string& prefix, bool flush_all) {
  partial.append(data, n);
  std::size_t start = 0, nl;
  while ((nl = partial.find('\n', start)) != std::string::npos) {
    std::fprintf(stream, "%s%.*s\n", prefix.c_str(), static_cast<int>(nl - start),
                 partial.data() + start);
    start = nl + 1;
  }
  partial.erase(0, start);
  if (flush_all && !partial.empty()) {
    std::fprintf(stream, "%s%s\n", prefix.c_str(), partial.c_str());
    partial.clear();
  }
  std::fflush(stream);
}

std::vector<std::string> worker_env(const LaunchOptions& o, int local_rank, int port) {
  static const char* kOurs[] = {"RANK=",        "LOCAL_RANK=",  "WORLD_SIZE=",
                                "LOCAL_WORLD_SIZE=", "GROUP_RANK=", "MASTER_ADDR=",
                                "MASTER_PORT=", "TDML_DIST_TIMEOUT_S=", "TORCHELASTIC_USE_AGENT_STORE="};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    bool ours = false;
    for (const char* k : kOurs) ours = ours || std::strncmp(*e, k, std::strlen(k)) == 0;
    if (!ours) env.emplace_back(*e);
  }
  const int world = o.nnodes * o.nproc;
  env.push_back("RANK=" + std::to_string(o.node_rank * o.nproc + local_rank));
  env.push_back("LOCAL_RANK=" + std::to_string(local_rank));
  env.push_back("WORLD_SIZE=" + std::to_string(world));
  env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(o.nproc));
  env.push_back("GROUP_RANK=" + std::to_string(o.node_rank));
  env.push_back("MASTER_ADDR=" + o.master_addr);
  env.push_back("MASTER_PORT=" + std::to_string(port));
  env.push_back("TDML_DIST_TIMEOUT_S=" + std::to_string(o.timeout.count()));
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

Worker spawn(const LaunchOptions& o, int local_rank, int port, std::vector<std::string> argv) {
  int out[2], err[2];
  TDML_CHECK(::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0,
             "launcher: cannot create pipes: " << std::strerror(errno));
  auto env = worker_env(o, local_rank, port);
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  TDML_CHECK(pid >= 0, "launcher: fork failed: " << std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execve("/proc/self/exe", c_argv.data(), c_env.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  Worker w;
  w.rank = o.node_rank * o.nproc + local_rank;
  w.pid = pid;
  w.out_fd = out[0];
  w.err_fd = err[0];
  return w;
}

void signal_all(std::vector<Worker>& ws, int sig) {
  for (auto& w : ws) {
    if (w.running) ::kill(w.pid, sig);
  }
}

}  // namespace

int pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TDML_CHECK(fd >= 0, "cannot create a socket to pick a free port: " << std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  TDML_CHECK(ok, "cannot pick a free TCP port: " << std::strerror(errno));
  return ntohs(a.sin_port);
}

int launch_workers(const LaunchOptions& o, std::vector<std::string> argv) {
  if (o.nproc < 1) throw UsageError("--nproc must be >= 1, got " + std::to_string(o.nproc));
  if (o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes) {
    throw UsageError("--node-rank " + std::to_string(o.node_rank) + " must be below --nnodes " +
                     std::to_string(o.nnodes));
  }
  if (o.master_port < 0 || o.master_port > 65535) {
    throw UsageError("--master-port " + std::to_string(o.master_port) + " is not a TCP port");
  }
  if (o.master_port == 0 && o.nnodes > 1) {
    throw UsageError("--nnodes > 1 needs an explicit --master-port shared by all nodes");
  }
  if (argv.empty()) argv = own_command_line();
  TDML_CHECK(!argv.empty(), "launcher: empty command line");
  const int port = o.master_port ? o.master_port : pick_free_port();

  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  g_interrupted = 0;

  std::vector<Worker> ws;
  for (int l = 0; l < o.nproc; ++l) ws.push_back(spawn(o, l, port, argv));

  int first_failed = -1;  // index into ws
  bool forwarded_interrupt = false;
  Clock::time_point failed_at{}, termed_at{};
  bool termed = false, killed = false;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<std::pair<std::size_t, bool>> who;  // worker index, is stderr
    for (std::size_t i = 0; i < ws.size(); ++i) {
      if (ws[i].out_fd >= 0) fds.push_back({ws[i].out_fd, POLLIN, 0}), who.push_back({i, false});
      if (ws[i].err_fd >= 0) fds.push_back({ws[i].err_fd, POLLIN, 0}), who.push_back({i, true});
    }
    bool any_running = false;
    for (auto& w : ws) any_running = any_running || w.running;
    if (fds.empty() && !any_running) break;
    // Waits for output; wakes every 100 ms to reap workers and run the failure clock.
    ::poll(fds.data(), fds.size(), 100);
    for (std::size_t j = 0; j < fds.size(); ++j) {
      if (!(fds[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& w = ws[who[j].first];
      const bool is_err = who[j].second;
      char buf[65536];
      const ssize_t n = ::read(fds[j].fd, buf, sizeof buf);
      const std::string prefix = o.prefix_output ? "[rank " + std::to_string(w.rank) + "] " : "";
      auto& partial = is_err ? w.err_partial : w.out_partial;
      FILE* stream = is_err ? stderr : stdout;
      if (n > 0) {
        forward(partial, buf, static_cast<std::size_t>(n), stream, prefix, false);
      } else if (n == 0 || errno != EINTR) {
        forward(partial, buf, 0, stream, prefix, true);
        ::close(fds[j].fd);
        (is_err ? w.err_fd : w.out_fd) = -1;
      }
    }
    for (std::size_t i = 0; i < ws.size(); ++i) {
      auto& w = ws[i];
      if (!w.running) continue;
      if (::waitpid(w.pid, &w.status, WNOHANG) != w.pid) continue;
      w.running = false;
      const bool ok = WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0;
      if (!ok && first_failed < 0) {
        first_failed = static_cast<int>(i);
        failed_at = Clock::now();
        std::fprintf(stderr, "tdml launcher: rank %d (pid %d) %s; waiting up to %lld s for the "
                     "others\n", w.rank, static_cast<int>(w.pid), describe(w.status).c_str(),
                     static_cast<long long>(o.grace.count()));
      }
    }
    if (g_interrupted && !forwarded_interrupt) {
      forwarded_interrupt = true;
      signal_all(ws, SIGTERM);
      termed = true;
      termed_at = Clock::now();
    }
    const auto now = Clock::now();
    if (first_failed >= 0 && !termed && now - failed_at > o.grace) {
      signal_all(ws, SIGTERM);
      termed = true;
      termed_at = now;
    }
    if (termed && !killed && now - termed_at > std::chrono::seconds(5)) {
      signal_all(ws, SIGKILL);
      killed = true;
    }
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);

  if (first_failed < 0 && !g_interrupted) return 0;
  std::ostringstream os;
  if (first_failed >= 0) {
    const auto& f = ws[first_failed];
    os << "rank " << f.rank << " (pid " << f.pid << ") " << describe(f.status);
  } else {
    os << "interrupted by signal " << g_interrupted;
  }
  std::ostringstream others;
  int n_others = 0;
  for (std::size_t i = 0; i < ws.size(); ++i) {
    if (static_cast<int>(i) == first_failed) continue;
    others << (n_others++ ? ", " : "") << "rank " << ws[i].rank << " " << describe(ws[i].status);
  }
  if (n_others) os << "; then " << others.str();
  throw Error("distributed job failed: " + os.str());
}

void maybe_die_for_test(int rank, std::int64_t step) {
  const char* die_rank = std::getenv("TDML_TEST_DIE_RANK");
  if (!die_rank || std::atoi(die_rank) != rank) return;
  const char* after = std::getenv("TDML_TEST_DIE_AFTER_STEPS");
  if (step >= (after ? std::atoll(after) : 0)) ::raise(SIGKILL);
}

}  // namespace tdml::dist
