#include "ledger/secret_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tdml/util/error.h"

namespace tdml::ledger {
namespace {

constexpr off_t kMaxSecretFileBytes = 4096;

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 0777));
  return buf;
}

// Opens PATH for reading without following a final symbolic link (nor blocking on a FIFO).
int open_no_follow(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno == ELOOP) {
    throw Error("key file " + path +
                " is a symbolic link; refusing to follow it (pass the key file itself)");
  }
  throw Error("cannot read key file " + path + ": " + std::strerror(errno));
}

// The checks on an open secret file: regular, ours, private, small.
void check_secret_stat(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) throw Error("key file " + path + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    throw Error("key file " + path + " belongs to uid " + std::to_string(st.st_uid) +
                ", not to the current user (uid " + std::to_string(::geteuid()) +
                "); refusing to use it (run as its owner, or have the owner copy it to you)");
  }
  if (st.st_mode & 077) {
    throw Error("key file " + path + " has mode " + mode_string(st.st_mode) +
                ": group or others can read or write it; refusing to use it (run: chmod 600 " +
                path + ", and consider the key compromised)");
  }
  if (st.st_size > kMaxSecretFileBytes) {
    throw Error("key file " + path + " is " + std::to_string(st.st_size) +
                " bytes, too large for a key file (at most " + std::to_string(kMaxSecretFileBytes) +
                "); is it the right file?");
  }
}

std::string read_fd(int fd, const std::string& path, std::size_t size) {
  std::string text(size, '\0');
  std::size_t off = 0;
  while (off < size) {
    ssize_t n = ::read(fd, text.data() + off, size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      OPENSSL_cleanse(text.data(), text.size());
      throw Error("cannot read key file " + path + ": " +
                  (n == 0 ? std::string("file shrank while reading") : std::strerror(errno)));
    }
    off += static_cast<std::size_t>(n);
  }
  return text;
}

}  // namespace

void write_secret_file(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error("cannot write key file " + path + ": " + std::strerror(e));
  }
}

nlohmann::json read_secret_file(const std::string& path) {
  const int fd = open_no_follow(path);
  std::string text;
  try {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
      throw Error("cannot stat key file " + path + ": " + std::strerror(errno));
    check_secret_stat(path, st);
    text = read_fd(fd, path, static_cast<std::size_t>(st.st_size));
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  try {
    auto j = nlohmann::json::parse(text);
    OPENSSL_cleanse(text.data(), text.size());
    return j;
  } catch (const nlohmann::json::exception&) {
    OPENSSL_cleanse(text.data(), text.size());
    throw Error("key file " + path + " is not valid JSON");
  }
}

}  // namespace tdml::ledger
