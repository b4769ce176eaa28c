#include "tdml/fl/shards.h"

#include <cstring>
#include <filesystem>

#include "tdml/data/cifar10.h"
#include "tdml/ledger/key_files.h"
#include "tdml/ledger/keys.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/sha256.h"

namespace tdml::fl {
namespace fs = std::filesystem;
namespace {

constexpr const char kManifestFile[] = "manifest.json";
constexpr const char kServerDir[] = "server";

// j[key] when it is a string, else "" (a malformed manifest lists nothing).
std::string text_field(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// j[key] when it is an integer, else -1.
std::int64_t count_field(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>()
                                                                        : -1;
}

void refuse_non_empty(const std::string& dir, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) throw Error("--out " + dir + " exists and is not a folder");
  if (!overwrite && !fs::is_empty(dir, ec)) {
    throw Error("--out " + dir +
                " is not empty; choose an empty folder or pass --force to "
                "write the shards into it");
  }
}

// Writes `bytes` to DIR/PARTY/NAME; returns the manifest's file entry.
nlohmann::json write_party_file(const fs::path& dir, const std::string& party,
                                const std::string& name, const std::string& bytes) {
  util::make_dirs((dir / party).string());
  util::write_file_atomic((dir / party / name).string(), bytes);
  return {{"name", name}, {"bytes", bytes.size()}, {"sha256", util::sha256_hex(bytes)}};
}

nlohmann::json client_entry(const fs::path& dir, int k, const data::Dataset& shard,
                            const torch::Tensor& label_counts) {
  const std::string id = ledger::client_key_id(k);
  std::vector<std::int64_t> counts(label_counts.data_ptr<std::int64_t>(),
                                   label_counts.data_ptr<std::int64_t>() + label_counts.numel());
  nlohmann::json file =
      write_party_file(dir, id, kClientShardFile, data::encode_cifar10_records(shard));
  return {{"id", id},
          {"dir", id},
          {"samples", shard.size()},
          {"label_counts", counts},
          {"files", nlohmann::json::array({file})}};
}

bool is_shard_manifest(const nlohmann::json& m) { return text_field(m, "format") == kShardsFormat; }

// The manifest at PATH; null when there is none or it is not a shard manifest.
nlohmann::json manifest_if_any(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  nlohmann::json m = nlohmann::json::parse(util::read_file(path), nullptr, false);
  return is_shard_manifest(m) ? m : nlohmann::json(nullptr);
}

// The client entry of `name` in the manifest, or nullptr.
const nlohmann::json* find_client(const nlohmann::json& m, const std::string& name) {
  if (!m.contains("clients") || !m["clients"].is_array()) return nullptr;
  for (const auto& c : m["clients"]) {
    if (text_field(c, "dir") == name) return &c;
  }
  return nullptr;
}

// Checks `bytes` against the entry's file `name`; false when the entry does not list it.
bool check_listed(const nlohmann::json& entry, const std::string& name, const std::string& path,
                  const std::string& bytes, const std::string& sha, const std::string& mpath) {
  if (!entry.contains("files") || !entry["files"].is_array()) return false;
  for (const auto& f : entry["files"]) {
    if (text_field(f, "name") != name) continue;
    const std::int64_t want_bytes = count_field(f, "bytes");
    const std::string want_sha = text_field(f, "sha256");
    if (want_bytes != static_cast<std::int64_t>(bytes.size()) || want_sha != sha) {
      throw Error("shard file " + path + " does not match " + mpath + " (" +
                  std::to_string(bytes.size()) + " bytes, sha256 " + sha + "; the manifest says " +
                  std::to_string(want_bytes) + " bytes, sha256 " + want_sha +
                  "): it was changed or damaged; write the shards again with tdml data split");
    }
    return true;
  }
  return false;
}

// Reads PATH, checks it against `entry` (when not null) and decodes its records.
Shard read_party_file(const std::string& path, const std::string& name, const nlohmann::json* entry,
                      const std::string& mpath) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw Error("no shard file " + path + " (write shards with tdml data split)");
  }
  const std::string bytes = util::read_file(path);
  Shard s;
  s.sha256 = util::sha256_hex(bytes);
  s.verified = entry && check_listed(*entry, name, path, bytes, s.sha256, mpath);
  auto raw = torch::empty({static_cast<std::int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(raw.data_ptr<std::uint8_t>(), bytes.data(), bytes.size());
  s.data = data::decode_cifar10_records(raw, path);
  return s;
}

// A folder name from the manifest: one path component (no '/', "." or "..").
std::string party_dir_name(const nlohmann::json& entry, const std::string& mpath) {
  const std::string name = text_field(entry, "dir");
  if (!ledger::valid_key_id(name)) {
    throw Error("shard manifest " + mpath + " names an invalid folder '" + name + "'");
  }
  return name;
}

}  // namespace

nlohmann::json write_shards(const data::Dataset& train, const data::Dataset& test,
                            const std::string& source, const std::string& dir,
                            const SplitOptions& opts) {
  refuse_non_empty(dir, opts.overwrite);
  const PartitionSpec& spec = opts.partition;
  const Partition part = partition_rows(train.labels, train.num_classes, spec);
  const torch::Tensor hist = class_histogram(train.labels, part, train.num_classes);
  nlohmann::json clients = nlohmann::json::array();
  for (int k = 0; k < static_cast<int>(part.size()); ++k) {
    clients.push_back(client_entry(dir, k, train.subset(part[k]), hist[k].contiguous()));
  }
  nlohmann::json server = {
      {"dir", kServerDir},
      {"samples", test.size()},
      {"files", nlohmann::json::array({write_party_file(dir, kServerDir, kServerTestFile,
                                                        data::encode_cifar10_records(test))})}};
  nlohmann::json m = {{"format", kShardsFormat}, {"source", source},
                      {"partition", spec.kind},  {"per_client", spec.per_client},
                      {"seed", spec.seed},       {"clients", clients},
                      {"server", server}};
  if (spec.kind == "dirichlet") m["alpha"] = spec.alpha;
  util::write_file_atomic((fs::path(dir) / kManifestFile).string(), m.dump(2) + "\n");
  return m;
}

Shard load_client_shard(const std::string& shard_dir) {
  fs::path dir = fs::path(shard_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "DIR/client-0/"
  const std::string mpath = (dir.parent_path() / kManifestFile).string();
  const nlohmann::json m = manifest_if_any(mpath);
  const nlohmann::json* entry = m.is_object() ? find_client(m, dir.filename().string()) : nullptr;
  Shard s = read_party_file((dir / kClientShardFile).string(), kClientShardFile, entry, mpath);
  s.id = dir.filename().string();
  return s;
}

data::Dataset load_server_test(const std::string& shards_dir) {
  const fs::path dir(shards_dir);
  const std::string mpath = (dir / kManifestFile).string();
  const nlohmann::json m = manifest_if_any(mpath);
  const nlohmann::json* entry = m.is_object() && m.contains("server") ? &m["server"] : nullptr;
  return read_party_file((dir / kServerDir / kServerTestFile).string(), kServerTestFile, entry,
                         mpath)
      .data;
}

ShardSet load_all_shards(const std::string& shards_dir) {
  const fs::path dir(shards_dir);
  const std::string mpath = (dir / kManifestFile).string();
  ShardSet set;
  set.manifest = manifest_if_any(mpath);
  if (set.manifest.is_null()) {
    throw Error("no shard manifest " + mpath + " (" + kShardsFormat +
                "; write shards with tdml data split --out " + shards_dir + ")");
  }
  if (!set.manifest.contains("clients") || !set.manifest["clients"].is_array() ||
      !set.manifest.contains("server")) {
    throw Error("shard manifest " + mpath + " lacks \"clients\" or \"server\"");
  }
  for (const auto& c : set.manifest["clients"]) {
    Shard s = load_client_shard((dir / party_dir_name(c, mpath)).string());
    if (!s.verified || count_field(c, "samples") != s.data.size()) {
      throw Error("shard " + s.id + " does not match " + mpath +
                  " (file not listed, or a different sample count)");
    }
    set.ids.push_back(text_field(c, "id").empty() ? s.id : text_field(c, "id"));
    set.clients.push_back(std::move(s.data));
  }
  const fs::path server = dir / party_dir_name(set.manifest["server"], mpath);
  const std::string test_path = (server / kServerTestFile).string();
  Shard test = read_party_file(test_path, kServerTestFile, &set.manifest["server"], mpath);
  if (!test.verified) throw Error(mpath + " does not list " + test_path);
  set.test = std::move(test.data);
  return set;
}

ConcatenatedShards concat_shards(const std::vector<data::Dataset>& shards) {
  if (shards.empty()) throw Error("concat_shards: no shards");
  ConcatenatedShards out;
  std::vector<torch::Tensor> images, labels;
  std::int64_t offset = 0;
  for (const auto& s : shards) {
    images.push_back(s.images);
    labels.push_back(s.labels);
    out.part.push_back(torch::arange(offset, offset + s.size(), torch::kInt64));
    offset += s.size();
  }
  out.train.images = torch::cat(images);
  out.train.labels = torch::cat(labels);
  out.train.num_classes = shards.front().num_classes;
  out.train.source = shards.front().source;
  return out;
}

}  // namespace tdml::fl
