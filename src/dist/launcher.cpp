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
  std::string name;  // "rank 1", "server", "client-2"
  bool essential = true;
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

// This process's environment without the launcher's variables, plus `extra` (NAME=VALUE).
std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  static const char* kOurs[] = {"RANK=",
                                "LOCAL_RANK=",
                                "WORLD_SIZE=",
                                "LOCAL_WORLD_SIZE=",
                                "GROUP_RANK=",
                                "MASTER_ADDR=",
                                "MASTER_PORT=",
                                "TDML_DIST_TIMEOUT_S=",
                                "TORCHELASTIC_USE_AGENT_STORE=",
                                "TORCHELASTIC_RESTART_COUNT=",
                                "TORCHELASTIC_MAX_RESTARTS="};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    bool ours = false;
    for (const char* k : kOurs) ours = ours || std::strncmp(*e, k, std::strlen(k)) == 0;
    for (const auto& x : extra) ours = ours || std::strncmp(*e, x.data(), x.find('=') + 1) == 0;
    if (!ours) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<std::string> worker_env(const LaunchOptions& o, int local_rank, int port,
                                    int attempt) {
  std::vector<std::string> env;
  env.push_back("TORCHELASTIC_RESTART_COUNT=" + std::to_string(attempt));
  env.push_back("TORCHELASTIC_MAX_RESTARTS=" + std::to_string(o.max_restarts));
  const int world = o.nnodes * o.nproc;
  env.push_back("RANK=" + std::to_string(o.node_rank * o.nproc + local_rank));
  env.push_back("LOCAL_RANK=" + std::to_string(local_rank));
  env.push_back("WORLD_SIZE=" + std::to_string(world));
  env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(o.nproc));
  env.push_back("GROUP_RANK=" + std::to_string(o.node_rank));
  env.push_back("MASTER_ADDR=" + o.master_addr);
  env.push_back("MASTER_PORT=" + std::to_string(port));
  env.push_back("TDML_DIST_TIMEOUT_S=" + std::to_string(o.timeout.count()));
  return child_env(env);
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Forks and execs `binary` with stdout and stderr on out_fd and err_fd (and stdin on in_fd when
// it is >= 0); the child dies with this process. Returns its pid.
pid_t fork_exec(const std::string& binary, std::vector<std::string> argv,
                std::vector<std::string> env, int in_fd, int out_fd, int err_fd) {
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  TDML_CHECK(pid >= 0, "launcher: fork failed: " << std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (in_fd >= 0) ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execve(binary.c_str(), c_argv.data(), c_env.data());
    ::_exit(127);
  }
  return pid;
}

Worker spawn(const ProcessSpec& spec, std::vector<std::string> env, std::vector<std::string> argv) {
  int out[2], err[2];
  TDML_CHECK(::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0,
             "launcher: cannot create pipes: " << std::strerror(errno));
  const pid_t pid = fork_exec("/proc/self/exe", std::move(argv), std::move(env), -1, out[1], err[1]);
  ::close(out[1]);
  ::close(err[1]);
  Worker w;
  w.name = spec.name;
  w.essential = spec.essential;
  w.pid = pid;
  w.out_fd = out[0];
  w.err_fd = err[0];
  return w;
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

namespace {

// Watches the workers of one launch: forwards output, reaps exits, escalates after a failure.
class Supervisor {
 public:
  Supervisor(const LaunchOptions& o, std::vector<Worker> ws) : o_(o), ws_(std::move(ws)) {}

  // Runs until every worker has exited and its output is drained.
  void run() {
    while (pump_output()) {
      reap();
      escalate();
    }
  }

  // Empty when all succeeded, else what happened (first failure first).
  std::string failure() const {
    if (first_failed_ < 0 && !g_interrupted) return "";
    std::ostringstream os;
    if (first_failed_ >= 0) {
      const auto& f = ws_[first_failed_];
      os << f.name << " (pid " << f.pid << ") " << describe(f.status);
    } else {
      os << "interrupted by signal " << g_interrupted;
    }
    const char* sep = "; then ";
    for (std::size_t i = 0; i < ws_.size(); ++i) {
      if (static_cast<int>(i) == first_failed_) continue;
      if (!ws_[i].essential && ws_[i].pid > 0 && WIFEXITED(ws_[i].status) &&
          WEXITSTATUS(ws_[i].status) == 0) {
        continue;  // a party that finished its part is not news
      }
      os << sep << ws_[i].name << " " << describe(ws_[i].status);
      sep = ", ";
    }
    return os.str();
  }

 private:
  // Waits up to 100 ms for output and forwards it; false when nothing is left to watch.
  bool pump_output() {
    std::vector<pollfd> fds;
    std::vector<std::pair<std::size_t, bool>> who;  // worker index, is stderr
    bool running = false;
    for (std::size_t i = 0; i < ws_.size(); ++i) {
      if (ws_[i].out_fd >= 0) fds.push_back({ws_[i].out_fd, POLLIN, 0}), who.push_back({i, false});
      if (ws_[i].err_fd >= 0) fds.push_back({ws_[i].err_fd, POLLIN, 0}), who.push_back({i, true});
      running = running || ws_[i].running;
    }
    if (fds.empty() && !running) return false;
    ::poll(fds.data(), fds.size(), 100);  // the timeout paces reaping and the failure clock
    for (std::size_t j = 0; j < fds.size(); ++j) {
      if (!(fds[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& w = ws_[who[j].first];
      const bool is_err = who[j].second;
      char buf[65536];
      const ssize_t n = ::read(fds[j].fd, buf, sizeof buf);
      const std::string prefix = o_.prefix_output ? "[" + w.name + "] " : "";
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
    return true;
  }

  void reap() {
    for (std::size_t i = 0; i < ws_.size(); ++i) {
      auto& w = ws_[i];
      if (!w.running || ::waitpid(w.pid, &w.status, WNOHANG) != w.pid) continue;
      w.running = false;
      const bool ok = WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0;
      if (!ok && !w.essential) {
        std::fprintf(stderr, "tdml launcher: %s (pid %d) %s; the others go on\n", w.name.c_str(),
                     static_cast<int>(w.pid), describe(w.status).c_str());
      }
      if (ok || !w.essential || first_failed_ >= 0) continue;
      first_failed_ = static_cast<int>(i);
      failed_at_ = Clock::now();
      std::fprintf(stderr, "tdml launcher: %s (pid %d) %s; the others have %lld s to exit\n",
                   w.name.c_str(), static_cast<int>(w.pid), describe(w.status).c_str(),
                   static_cast<long long>(o_.grace.count()));
    }
  }

  // Interrupt: SIGTERM now. Failure: SIGTERM after the grace period. Then SIGKILL after 5 s.
  void escalate() {
    const auto now = Clock::now();
    const bool term_now = g_interrupted || (first_failed_ >= 0 && now - failed_at_ > o_.grace);
    if (term_now && !termed_) {
      signal_all(SIGTERM);
      termed_ = true;
      termed_at_ = now;
    }
    if (termed_ && !killed_ && now - termed_at_ > std::chrono::seconds(5)) {
      signal_all(SIGKILL);
      killed_ = true;
    }
  }

  void signal_all(int sig) {
    for (auto& w : ws_) {
      if (w.running) ::kill(w.pid, sig);
    }
  }

  const LaunchOptions& o_;
  std::vector<Worker> ws_;
  int first_failed_ = -1;  // index into ws_
  Clock::time_point failed_at_{}, termed_at_{};
  bool termed_ = false, killed_ = false;
};

// Routes SIGINT/SIGTERM to a flag for the supervisor while alive.
class SignalFlag {
 public:
  SignalFlag() {
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    g_interrupted = 0;
  }
  ~SignalFlag() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

}  // namespace

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
  if (o.max_restarts < 0) {
    throw UsageError("--max-restarts must be >= 0, got " + std::to_string(o.max_restarts));
  }
  if (o.max_restarts > 0 && o.nnodes > 1) {
    throw UsageError(
        "--max-restarts restarts this node's workers only: for a multi-node job use torchrun "
        "--max-restarts (its rendezvous restarts every node)");
  }
  if (argv.empty()) argv = own_command_line();
  TDML_CHECK(!argv.empty(), "launcher: empty command line");

  SignalFlag signals;
  for (int attempt = 0;; ++attempt) {
    const int port = o.master_port ? o.master_port : pick_free_port();
    std::vector<Worker> ws;
    for (int l = 0; l < o.nproc; ++l) {
      const ProcessSpec spec{"rank " + std::to_string(o.node_rank * o.nproc + l), {}, true};
      ws.push_back(spawn(spec, worker_env(o, l, port, attempt), argv));
    }
    Supervisor supervisor(o, std::move(ws));
    supervisor.run();
    const std::string failure = supervisor.failure();
    if (failure.empty()) return 0;
    if (g_interrupted || attempt >= o.max_restarts) {
      throw Error("distributed job failed: " + failure +
                  (attempt > 0 ? " (after " + std::to_string(attempt) + " restart(s))" : ""));
    }
    std::fprintf(stderr, "tdml launcher: %s; restarting the workers (restart %d of %d)\n",
                 failure.c_str(), attempt + 1, o.max_restarts);
  }
}

int launch_processes(const std::vector<ProcessSpec>& specs, const LaunchOptions& o,
                     std::vector<std::string> argv) {
  if (argv.empty()) argv = own_command_line();
  TDML_CHECK(!argv.empty() && !specs.empty(), "launcher: nothing to launch");
  SignalFlag signals;
  std::vector<Worker> ws;
  for (const auto& spec : specs) ws.push_back(spawn(spec, child_env(spec.env), argv));
  Supervisor supervisor(o, std::move(ws));
  supervisor.run();
  const std::string failure = supervisor.failure();
  if (!failure.empty()) throw Error("local job failed: " + failure);
  return 0;
}

namespace {

struct RunningJob {
  std::size_t index = 0;
  pid_t pid = -1;
  Clock::time_point start;
};

RunningJob start_job(const Job& job, std::size_t index, const std::vector<std::string>& env) {
  TDML_CHECK(!job.argv.empty(), "launcher: job " << job.name << " has an empty command line");
  const int log = ::open(job.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TDML_CHECK(log >= 0, "cannot write " << job.log_path << ": " << std::strerror(errno));
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  RunningJob r{index, -1, Clock::now()};
  try {
    r.pid = fork_exec(job.binary.empty() ? "/proc/self/exe" : job.binary, job.argv, env, null,
                      log, log);
  } catch (...) {
    ::close(log);
    if (null >= 0) ::close(null);
    throw;
  }
  ::close(log);
  if (null >= 0) ::close(null);
  return r;
}

// SIGTERM to the running jobs, SIGKILL to those left after 5 s; reaps them all.
void stop_jobs(std::vector<RunningJob>& running) {
  for (const auto& j : running) ::kill(j.pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!running.empty()) {
    const bool late = Clock::now() > deadline;
    for (auto it = running.begin(); it != running.end();) {
      if (late) ::kill(it->pid, SIGKILL);
      const pid_t got = ::waitpid(it->pid, nullptr, late ? 0 : WNOHANG);
      it = got == it->pid || (got < 0 && errno != EINTR) ? running.erase(it) : it + 1;
    }
    if (!running.empty()) ::poll(nullptr, 0, 50);
  }
}

// Kills and reaps whatever still runs when run_jobs leaves early (on_end threw).
struct JobsGuard {
  std::vector<RunningJob>& running;
  ~JobsGuard() {
    for (const auto& j : running) ::kill(j.pid, SIGKILL);
    for (const auto& j : running) ::waitpid(j.pid, nullptr, 0);
  }
};

}  // namespace

void run_jobs(const std::vector<Job>& jobs, int parallel,
              const std::function<void(const JobEnd&)>& on_end) {
  TDML_CHECK(parallel >= 1, "launcher: jobs in parallel must be >= 1, got " << parallel);
  SignalFlag signals;
  const auto env = child_env({});
  std::vector<RunningJob> running;
  JobsGuard guard{running};
  std::size_t next = 0;
  while (!g_interrupted && (next < jobs.size() || !running.empty())) {
    while (running.size() < static_cast<std::size_t>(parallel) && next < jobs.size()) {
      running.push_back(start_job(jobs[next], next, env));
      ++next;
    }
    bool ended = false;
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      const pid_t got = ::waitpid(it->pid, &status, WNOHANG);
      if (got == 0 || (got < 0 && errno == EINTR)) {
        ++it;
        continue;
      }
      JobEnd e;
      e.index = it->index;
      e.seconds = std::chrono::duration<double>(Clock::now() - it->start).count();
      if (got < 0) {
        e.how = std::string("could not be waited for: ") + std::strerror(errno);
      } else {
        e.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        e.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        e.how = describe(status);
      }
      it = running.erase(it);
      ended = true;
      on_end(e);
    }
    if (!ended && !running.empty()) ::poll(nullptr, 0, 100);  // paces reaping; a signal ends it
  }
  if (!g_interrupted) return;
  std::string names;
  for (const auto& j : running) names += (names.empty() ? "" : ", ") + jobs[j.index].name;
  stop_jobs(running);
  throw Error("interrupted by signal " + std::to_string(g_interrupted) +
              (names.empty() ? std::string(": no job was running")
                             : ": stopped the running jobs " + names));
}

}  // namespace tdml::dist
