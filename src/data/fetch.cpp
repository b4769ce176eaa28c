#include "tdml/data/fetch.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include "tdml/data/cifar10.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"

namespace tdml::data {
namespace fs = std::filesystem;
namespace {

const char* const kPrefix = "cifar-10-batches-bin/";
const std::set<std::string> kMembers = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
                                        "batches.meta.txt", "readme.html"};
const char* const kRequired[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                 "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

bool complete_copy(const fs::path& dir) {
  for (const char* n : kRequired) {
    std::error_code ec;
    auto size = fs::file_size(dir / n, ec);
    if (ec || size == 0 || size % kCifarRecordBytes != 0) return false;
  }
  return true;
}

// Removes the listed paths on scope exit unless released (no partial files on failure).
class Cleanup {
 public:
  ~Cleanup() {
    for (const auto& p : paths_) {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  }
  void add(const fs::path& p) { paths_.push_back(p); }

 private:
  std::vector<fs::path> paths_;
};

struct Download {
  std::FILE* out = nullptr;
  EVP_MD_CTX* md5 = nullptr;
  std::int64_t bytes = 0;
  bool write_failed = false;
  std::unique_ptr<util::Progress> progress;
  std::int64_t shown_mb = 0;
};

size_t on_data(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* d = static_cast<Download*>(user);
  const size_t n = size * nmemb;
  if (std::fwrite(ptr, 1, n, d->out) != n) {
    d->write_failed = true;
    return 0;
  }
  EVP_DigestUpdate(d->md5, ptr, n);
  d->bytes += static_cast<std::int64_t>(n);
  if (d->progress) {
    const std::int64_t mb = d->bytes >> 20;
    if (mb > d->shown_mb) {
      d->progress->tick(mb - d->shown_mb, mb - d->shown_mb);
      d->shown_mb = mb;
    }
  }
  return n;
}

std::string offline_hint(const std::string& url, const std::string& reason) {
  return "cannot reach " + url + ": " + reason +
         " (offline? use --data synthetic, or set TDML_DATA to a CIFAR-10 folder)";
}

// Downloads `url` into `path`, returning the MD5 (hex) and byte count.
std::string download(const FetchOptions& o, const fs::path& path, std::int64_t* bytes) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  TDML_CHECK(curl_ready, "cannot initialise libcurl");
  Download d;
  d.out = std::fopen(path.c_str(), "wb");
  if (!d.out) throw Error("cannot write " + path.string() + ": " + std::strerror(errno));
  d.md5 = EVP_MD_CTX_new();
  EVP_DigestInit_ex(d.md5, EVP_md5(), nullptr);
  if (o.progress) {
    d.progress = std::make_unique<util::Progress>("download", o.size > 0 ? o.size >> 20 : 0, "MiB");
  }
  CURL* curl = curl_easy_init();
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, o.url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(o.timeout_s));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_cleanup(curl);
  if (d.progress) d.progress->finish();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(d.md5, digest, &len);
  EVP_MD_CTX_free(d.md5);
  const bool close_failed = std::fclose(d.out) != 0;
  const std::string reason = err[0] ? err : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
      throw Error(offline_hint(o.url, reason));
    case CURLE_HTTP_RETURNED_ERROR:
      throw Error("download of " + o.url + " failed: HTTP " + std::to_string(http));
    default:
      if (d.write_failed) throw Error("cannot write " + path.string() + " (disk full?)");
      throw Error("download of " + o.url + " failed: " + reason);
  }
  if (close_failed) throw Error("cannot write " + path.string() + ": " + std::strerror(errno));
  *bytes = d.bytes;
  std::string hex;
  char two[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(two, sizeof(two), "%02x", digest[i]);
    hex += two;
  }
  return hex;
}

// ---- A small tar reader over zlib's gzip stream: regular files only, names checked. ----

std::int64_t parse_octal(const char* p, int n, const std::string& archive) {
  std::int64_t v = 0;
  int i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\0')) ++i;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) v = v * 8 + (p[i] - '0');
  for (; i < n; ++i) {
    if (p[i] != ' ' && p[i] != '\0') throw Error("corrupt tar header in " + archive);
  }
  return v;
}

std::string field(const char* p, int n) { return std::string(p, strnlen(p, n)); }

// Refuses absolute paths and any ".." component; strips "./".
std::string safe_member_name(const std::string& raw, const std::string& archive) {
  if (!raw.empty() && raw[0] == '/') {
    throw Error("refusing archive member '" + raw + "' in " + archive + ": absolute path");
  }
  std::string out;
  std::size_t start = 0;
  while (start <= raw.size()) {
    std::size_t end = raw.find('/', start);
    if (end == std::string::npos) end = raw.size();
    std::string part = raw.substr(start, end - start);
    if (part == "..") {
      throw Error("refusing archive member '" + raw + "' in " + archive +
                  ": path leaves the target folder");
    }
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
    start = end + 1;
  }
  return out;
}

class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path), gz_(gzopen(path.c_str(), "rb")) {
    if (!gz_) throw Error("cannot open archive " + path);
    gzbuffer(gz_, 1 << 20);
  }
  ~GzReader() { gzclose(gz_); }
  // Reads exactly n bytes (false at a clean end of stream before any byte).
  bool read(char* buf, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
      int r = gzread(gz_, buf + got, chunk);
      if (r < 0) {
        int code = 0;
        throw Error("corrupt archive " + path_ + ": " + gzerror(gz_, &code));
      }
      if (r == 0) {
        if (got == 0) return false;
        throw Error("archive " + path_ + " is truncated");
      }
      got += static_cast<std::size_t>(r);
    }
    return true;
  }
  void skip(std::int64_t n) {
    std::vector<char> buf(1 << 16);
    while (n > 0) {
      std::size_t k = static_cast<std::size_t>(std::min<std::int64_t>(n, buf.size()));
      if (!read(buf.data(), k)) throw Error("archive " + path_ + " is truncated");
      n -= static_cast<std::int64_t>(k);
    }
  }

 private:
  std::string path_;
  gzFile gz_;
};

std::int64_t padded(std::int64_t size) { return (size + 511) / 512 * 512; }

// Extracts the expected members of `archive` into `out_dir`. Returns the names written.
std::set<std::string> extract(const std::string& archive, const fs::path& out_dir) {
  GzReader in(archive);
  std::set<std::string> written;
  std::string long_name;
  char h[512];
  for (;;) {
    if (!in.read(h, 512)) break;
    if (std::all_of(h, h + 512, [](char c) { return c == 0; })) break;
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) {
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    }
    if (static_cast<std::int64_t>(sum) != parse_octal(h + 148, 8, archive)) {
      throw Error("corrupt tar header in " + archive + " (checksum mismatch)");
    }
    const std::int64_t size = parse_octal(h + 124, 12, archive);
    const char type = h[156];
    std::string name = field(h, 100);
    if (std::memcmp(h + 257, "ustar", 5) == 0 && h[345]) name = field(h + 345, 155) + "/" + name;
    if (!long_name.empty()) name = std::move(long_name), long_name.clear();
    if (type == 'L') {  // GNU long name: the data is the next member's name
      std::string buf(static_cast<std::size_t>(padded(size)), '\0');
      if (!in.read(buf.data(), buf.size())) throw Error("archive " + archive + " is truncated");
      long_name = field(buf.data(), static_cast<int>(size));
      continue;
    }
    if (type == 'x' || type == 'g') {  // pax extended headers: not needed for these names
      in.skip(padded(size));
      continue;
    }
    const std::string safe = safe_member_name(name, archive);
    if (type == '1' || type == '2') {
      throw Error("refusing archive member '" + name + "' in " + archive +
                  ": links are not extracted");
    }
    if (type == '5') {
      in.skip(padded(size));
      continue;
    }
    if (type != '0' && type != '\0' && type != '7') {
      throw Error("refusing archive member '" + name + "' in " + archive +
                  ": not a regular file (type '" + std::string(1, type) + "')");
    }
    const std::string base = safe.rfind(kPrefix, 0) == 0 ? safe.substr(std::strlen(kPrefix)) : "";
    if (!kMembers.count(base)) {
      spdlog::debug("skipping unexpected archive member {}", safe);
      in.skip(padded(size));
      continue;
    }
    std::string data(static_cast<std::size_t>(size), '\0');
    if (size > 0 && !in.read(data.data(), data.size())) {
      throw Error("archive " + archive + " is truncated");
    }
    in.skip(padded(size) - size);
    util::write_file_atomic((out_dir / base).string(), data);
    written.insert(base);
  }
  return written;
}

}  // namespace

std::string fetch_cifar10(const FetchOptions& o) {
  const fs::path dir(o.dir);
  const fs::path target = dir / "cifar-10-batches-bin";
  if (complete_copy(target)) {
    spdlog::info("CIFAR-10 already present in {}", target.string());
    return target.string();
  }
  std::error_code ec;
  const bool dir_existed = fs::exists(dir, ec);
  util::make_dirs(dir.string());
  Cleanup cleanup;
  const std::string tag = std::to_string(::getpid());
  const fs::path archive = dir / ("cifar-10-binary.tar.gz.part-" + tag);
  const fs::path staging = dir / (".cifar-10-batches-bin.partial-" + tag);
  cleanup.add(archive);
  cleanup.add(staging);
  try {
    spdlog::info("downloading {} into {}", o.url, dir.string());
    std::int64_t bytes = 0;
    const std::string md5 = download(o, archive, &bytes);
    if (o.size > 0 && bytes != o.size) {
      throw Error("download of " + o.url + " has " + std::to_string(bytes) + " bytes, expected " +
                  std::to_string(o.size) + " (incomplete or changed)");
    }
    if (!o.md5.empty() && md5 != o.md5) {
      throw Error("checksum mismatch for " + o.url + ": MD5 " + md5 + ", expected " + o.md5 +
                  " (corrupt download; nothing was extracted)");
    }
    spdlog::info("MD5 {} verified ({} bytes); extracting", md5, bytes);
    util::make_dirs(staging.string());
    const auto written = extract(archive.string(), staging);
    for (const char* n : kRequired) {
      if (!written.count(n)) {
        throw Error("archive from " + o.url + " lacks " + kPrefix + n +
                    " (not the CIFAR-10 binary archive?)");
      }
    }
    util::make_dirs(target.string());
    for (const auto& n : written) {
      std::error_code rename_ec;
      fs::rename(staging / n, target / n, rename_ec);
      if (rename_ec) {
        throw Error("cannot move " + (staging / n).string() + " to " + (target / n).string() +
                    ": " + rename_ec.message());
      }
    }
  } catch (...) {
    if (!dir_existed) cleanup.add(dir);  // only removed if we created it
    throw;
  }
  spdlog::info("CIFAR-10 ready in {}", target.string());
  return target.string();
}

}  // namespace tdml::data
