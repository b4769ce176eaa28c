// `tdml data fetch` against a small HTTP server on 127.0.0.1 started by the test itself,
// serving a tar.gz built here with a hand-written tar header and zlib's gz functions.
#include "tdml/data/fetch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "support/test_support.h"
#include "tdml/data/cifar10.h"
#include "tdml/data/synthetic.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::data {
namespace {

namespace fs = std::filesystem;
using test::run_tdml;
using test::TempDir;

struct Member {
  std::string name;
  std::string data;
  char type = '0';
  std::string link;
};

// One ustar header block.
std::string tar_header(const Member& m) {
  std::string h(512, '\0');
  std::memcpy(&h[0], m.name.data(), std::min<std::size_t>(m.name.size(), 100));
  std::snprintf(&h[100], 8, "%07o", 0644);
  std::snprintf(&h[108], 8, "%07o", 0);
  std::snprintf(&h[116], 8, "%07o", 0);
  std::snprintf(&h[124], 12, "%011o", static_cast<unsigned>(m.data.size()));
  std::snprintf(&h[136], 12, "%011o", 1234567890u);
  std::memset(&h[148], ' ', 8);
  h[156] = m.type;
  std::memcpy(&h[157], m.link.data(), std::min<std::size_t>(m.link.size(), 100));
  std::memcpy(&h[257], "ustar", 6);
  std::memcpy(&h[263], "00", 2);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

std::string make_tar_gz(const std::string& path, const std::vector<Member>& members) {
  std::string tar;
  for (const auto& m : members) {
    tar += tar_header(m) + m.data;
    tar.append((512 - m.data.size() % 512) % 512, '\0');
  }
  tar.append(1024, '\0');
  gzFile gz = gzopen(path.c_str(), "wb");
  EXPECT_TRUE(gz);
  EXPECT_EQ(gzwrite(gz, tar.data(), static_cast<unsigned>(tar.size())),
            static_cast<int>(tar.size()));
  gzclose(gz);
  return util::read_file(path);
}

std::string md5_hex(const std::string& bytes) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), d, &n, EVP_md5(), nullptr);
  std::string hex;
  char two[3];
  for (unsigned i = 0; i < n; ++i) {
    std::snprintf(two, sizeof(two), "%02x", d[i]);
    hex += two;
  }
  return hex;
}

// Answers every GET with `body`. Stops (and joins) on destruction.
class HttpServer {
 public:
  explicit HttpServer(std::string body) : body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::pipe(stop_), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpServer() {
    char c = 'x';
    EXPECT_EQ(::write(stop_[1], &c, 1), 1);
    thread_.join();
    ::close(fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/cifar-10-binary.tar.gz";
  }
  int requests() const { return requests_; }

 private:
  void serve() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 || (p[1].revents & POLLIN)) return;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      ++requests_;
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: " +
                         std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
      std::size_t off = 0;
      while (off < resp.size()) {
        ssize_t n = ::write(c, resp.data() + off, resp.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  }
  std::string body_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

std::vector<Member> cifar_members(std::uint64_t seed) {
  std::vector<Member> m;
  m.push_back({"cifar-10-batches-bin/", "", '5', ""});
  SynthOptions o;
  o.seed = seed;
  for (int i = 1; i <= 6; ++i) {
    TempDir t;
    write_cifar10_bin(t / "b.bin",
                      make_synthetic(3, Split::kTrain, o).subset(torch::arange(3, torch::kInt64)));
    const std::string name = i <= 5 ? "data_batch_" + std::to_string(i) + ".bin" : "test_batch.bin";
    m.push_back({"cifar-10-batches-bin/" + name, util::read_file(t / "b.bin"), '0', ""});
    o.seed += 1;
  }
  m.push_back({"cifar-10-batches-bin/batches.meta.txt", "airplane\n", '0', ""});
  return m;
}

std::string fetch_args(const std::string& dir, const std::string& url, const std::string& md5,
                       std::size_t size) {
  return "data fetch --dir '" + dir + "' --url '" + url + "' --md5 " + md5 + " --size " +
         std::to_string(size);
}

bool empty_or_absent(const std::string& dir) { return !fs::exists(dir) || fs::is_empty(dir); }

TEST(Fetch, DownloadsVerifiesAndExtractsOnlyExpectedMembers) {
  TempDir t;
  auto members = cifar_members(1);
  members.push_back({"cifar-10-batches-bin/run_me.sh", "echo hi\n", '0', ""});
  members.push_back({"other/notes.txt", "x", '0', ""});
  const std::string body = make_tar_gz(t / "a.tar.gz", members);
  const std::string dir = t / "data";
  {
    HttpServer server(body);
    auto r = run_tdml(fetch_args(dir, server.url(), md5_hex(body), body.size()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(dir + "/cifar-10-batches-bin"), std::string::npos) << r.output;
    EXPECT_EQ(server.requests(), 1);
  }
  for (std::size_t i = 1; i <= 7; ++i) {
    const std::string path = dir + "/" + members[i].name;
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(util::read_file(path), members[i].data) << path;
  }
  EXPECT_FALSE(fs::exists(dir + "/cifar-10-batches-bin/run_me.sh"));
  EXPECT_FALSE(fs::exists(dir + "/other"));
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir))
    entries += e.path().filename() != "cifar-10-batches-bin";
  EXPECT_EQ(entries, 0) << "archive or staging files left behind";
  EXPECT_EQ(load_cifar10(dir, Split::kTrain).size(), 15);

  // Already complete: no download (the server is gone, so a download would fail).
  auto again = run_tdml(fetch_args(dir, "http://127.0.0.1:9/none", "0", 1));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already present"), std::string::npos) << again.output;
}

TEST(Fetch, BadChecksumLeavesNoFiles) {
  TempDir t;
  const std::string body = make_tar_gz(t / "a.tar.gz", cifar_members(2));
  HttpServer server(body);
  const std::string dir = t / "data";
  auto r = run_tdml(fetch_args(dir, server.url(), std::string(32, '0'), body.size()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tdml: error: checksum mismatch for " + server.url() + ": MD5 " +
                          md5_hex(body) + ", expected 000"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(empty_or_absent(dir));
}

TEST(Fetch, WrongSizeIsRefused) {
  TempDir t;
  const std::string body = make_tar_gz(t / "a.tar.gz", cifar_members(2));
  HttpServer server(body);
  auto r = run_tdml(fetch_args(t / "data", server.url(), md5_hex(body), body.size() + 1));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("expected " + std::to_string(body.size() + 1)), std::string::npos)
      << r.output;
  EXPECT_TRUE(empty_or_absent(t / "data"));
}

TEST(Fetch, PathTraversalMemberIsRefused) {
  TempDir t;
  auto members = cifar_members(3);
  members.insert(members.begin() + 2, {"cifar-10-batches-bin/../../escape.bin", "gotcha", '0', ""});
  const std::string body = make_tar_gz(t / "a.tar.gz", members);
  HttpServer server(body);
  util::make_dirs(t / "data/nested");
  const std::string dir = t / "data/nested";
  auto r = run_tdml(fetch_args(dir, server.url(), md5_hex(body), body.size()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("refusing archive member 'cifar-10-batches-bin/../../escape.bin'"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(t / "data/escape.bin"));
  EXPECT_FALSE(fs::exists(t / "escape.bin"));
  EXPECT_TRUE(fs::exists(dir)) << "a folder the user made is kept";
  EXPECT_TRUE(empty_or_absent(dir));
}

TEST(Fetch, SymlinkMemberIsRefused) {
  TempDir t;
  auto members = cifar_members(4);
  members.insert(members.begin() + 1,
                 {"cifar-10-batches-bin/test_batch.bin", "", '2', "/etc/passwd"});
  const std::string body = make_tar_gz(t / "a.tar.gz", members);
  HttpServer server(body);
  FetchOptions o;
  o.dir = t / "data";
  o.url = server.url();
  o.md5 = md5_hex(body);
  o.size = static_cast<std::int64_t>(body.size());
  o.progress = false;
  try {
    fetch_cifar10(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("links are not extracted"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(empty_or_absent(o.dir));
}

TEST(Fetch, UnreachableServerIsOneClearLine) {
  // A port that was just free: nothing listens there, so the connection is refused.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/c.tar.gz";
  TempDir t;
  auto r = run_tdml(fetch_args(t / "data", url, "abc", 10) + " -q");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("tdml: error: cannot reach " + url + ": ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("use --data synthetic, or set TDML_DATA"), std::string::npos);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_TRUE(empty_or_absent(t / "data"));
}

}  // namespace
}  // namespace tdml::data
