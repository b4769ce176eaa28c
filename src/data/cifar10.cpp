#include "tdml/data/cifar10.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::data {
namespace fs = std::filesystem;

namespace {

const char* const kTrainFiles[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin"};
const char* const kTestFile = "test_batch.bin";

bool has_all_batches(const fs::path& dir, std::vector<std::string>* missing) {
  std::vector<std::string> names(std::begin(kTrainFiles), std::end(kTrainFiles));
  names.push_back(kTestFile);
  bool ok = true;
  for (const auto& n : names) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / n, ec)) {
      ok = false;
      if (missing) missing->push_back(n);
    }
  }
  return ok;
}

// The whole file in one read, straight into a uint8 tensor.
torch::Tensor read_whole(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot read CIFAR-10 file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read CIFAR-10 file " + path + ": not a regular file");
  }
  auto buf = torch::empty({static_cast<std::int64_t>(st.st_size)}, torch::kUInt8);
  auto* p = buf.data_ptr<std::uint8_t>();
  std::size_t off = 0, want = static_cast<std::size_t>(st.st_size);
  while (off < want) {
    ssize_t n = ::read(fd, p + off, want - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      throw Error("cannot read CIFAR-10 file " + path + ": " +
                  (n == 0 ? std::string("file shrank while reading") : std::strerror(e)));
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return buf;
}

}  // namespace

std::string resolve_cifar10_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    throw Error("CIFAR-10 folder " + dir + " does not exist (run 'tdml data fetch --dir " + dir +
                "' or use --data synthetic)");
  }
  if (!fs::is_directory(dir, ec)) throw Error("CIFAR-10 path " + dir + " is not a folder");
  const fs::path nested = fs::path(dir) / "cifar-10-batches-bin";
  if (has_all_batches(nested, nullptr)) return nested.string();
  std::vector<std::string> missing;
  if (has_all_batches(dir, &missing)) return fs::path(dir).string();
  // Report against the folder the user most likely meant.
  fs::path shown = fs::is_directory(nested, ec) ? nested : fs::path(dir);
  if (shown == nested) {
    missing.clear();
    has_all_batches(nested, &missing);
  }
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  throw Error("CIFAR-10 folder " + shown.string() + " has the wrong layout: missing " + list +
              " (expected data_batch_1..5.bin and test_batch.bin, in it or in "
              "cifar-10-batches-bin/; run 'tdml data fetch')");
}

Dataset read_cifar10_bin(const std::string& path) {
  torch::Tensor raw = read_whole(path);
  if (raw.numel() == 0) throw Error("CIFAR-10 file " + path + " is empty");
  return decode_cifar10_records(raw, path);
}

Dataset decode_cifar10_records(const torch::Tensor& raw, const std::string& path) {
  const std::int64_t bytes = raw.numel();
  if (bytes % kCifarRecordBytes != 0) {
    throw Error("CIFAR-10 file " + path + " has " + std::to_string(bytes) +
                " bytes, not a multiple of the 3073-byte record (truncated or not a CIFAR-10 "
                "batch; " +
                std::to_string(bytes % kCifarRecordBytes) + " stray bytes)");
  }
  const std::int64_t n = bytes / kCifarRecordBytes;
  torch::Tensor rec = raw.view({n, kCifarRecordBytes});
  torch::Tensor label_bytes = rec.select(1, 0);
  torch::Tensor bad = (label_bytes > 9).nonzero();
  if (bad.numel() > 0) {
    std::int64_t r = bad[0][0].item<std::int64_t>();
    throw Error("CIFAR-10 file " + path + ": record " + std::to_string(r) + " (byte offset " +
                std::to_string(r * kCifarRecordBytes) + ") has label " +
                std::to_string(label_bytes[r].item<int>()) + ", expected 0..9");
  }
  Dataset d;
  d.labels = label_bytes.to(torch::kInt64);
  // A fresh tensor: a view (contiguous already when n == 1) would alias `raw`.
  d.images = torch::empty({n, 3, 32, 32}, torch::kUInt8)
                 .copy_(rec.narrow(1, 1, kCifarImageBytes).reshape({n, 3, 32, 32}));
  d.source = path;
  return d;
}

Dataset load_cifar10(const std::string& dir, Split split) {
  const fs::path root = resolve_cifar10_dir(dir);
  Dataset out;
  if (split == Split::kTest) {
    out = read_cifar10_bin((root / kTestFile).string());
  } else {
    std::vector<torch::Tensor> images, labels;
    for (const char* f : kTrainFiles) {
      Dataset part = read_cifar10_bin((root / f).string());
      images.push_back(part.images);
      labels.push_back(part.labels);
    }
    out.images = torch::cat(images);
    out.labels = torch::cat(labels);
  }
  out.source = root.string();
  return out;
}

std::string encode_cifar10_records(const Dataset& d) {
  TDML_CHECK(d.images.defined() && d.images.dim() == 4 && d.images.size(1) == 3 &&
                 d.images.size(2) == 32 && d.images.size(3) == 32 &&
                 d.images.scalar_type() == torch::kUInt8,
             "CIFAR-10 records: images must be uint8 [N,3,32,32]");
  TDML_CHECK(d.labels.size(0) == d.images.size(0),
             "CIFAR-10 records: labels and images differ in length");
  const std::int64_t n = d.size();
  if (n > 0) {
    TDML_CHECK(d.labels.min().item<std::int64_t>() >= 0 && d.labels.max().item<std::int64_t>() <= 9,
               "CIFAR-10 records: labels must be in 0..9");
  }
  torch::Tensor rec =
      torch::cat({d.labels.to(torch::kUInt8).view({n, 1}), d.images.reshape({n, kCifarImageBytes})},
                 1)
          .contiguous();
  return std::string(reinterpret_cast<const char*>(rec.data_ptr<std::uint8_t>()),
                     static_cast<std::size_t>(rec.numel()));
}

void write_cifar10_bin(const std::string& path, const Dataset& d) {
  try {
    util::write_file_atomic(path, encode_cifar10_records(d));
  } catch (const Error& e) {
    throw Error("write_cifar10_bin " + path + ": " + e.what());
  }
}

}  // namespace tdml::data
