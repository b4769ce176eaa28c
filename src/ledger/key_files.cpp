#include "tdml/ledger/key_files.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "ledger/secret_file.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::ledger {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr const char kScheme[] = "ed25519";

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// 64 lower-case hex characters -> 32 bytes (one spelling per key).
std::string decode_key_hex(const std::string& hex, const std::string& what,
                           const std::string& path) {
  const bool ok = hex.size() == 2 * kKeyBytes && std::all_of(hex.begin(), hex.end(), [](char c) {
                    return is_digit(c) || (c >= 'a' && c <= 'f');
                  });
  if (!ok) {
    throw Error(path + ": the " + what + " must be 32 bytes as 64 lower-case hex characters");
  }
  return from_hex(hex, what + " in " + path);
}

void check_id(const std::string& id, const std::string& path) {
  if (!valid_key_id(id)) {
    throw Error(path + ": invalid key id '" + id +
                "' (1-64 letters, digits, '.', '_', '-', not starting with '.')");
  }
}

void check_scheme(const nlohmann::json& j, const std::string& path) {
  const std::string scheme =
      j.contains("scheme") && j["scheme"].is_string() ? j["scheme"].get<std::string>() : "";
  if (scheme != kScheme) {
    throw Error(path + ": unknown key scheme '" + scheme +
                "' (a party key is ed25519, made by tdml keys gen --id)");
  }
}

// A JSON object from PATH; the text is wiped afterwards (a mistaken file may hold a secret).
nlohmann::json read_json_object(const std::string& path, const std::string& what) {
  std::string text = util::read_file(path);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  OPENSSL_cleanse(text.data(), text.size());
  if (!j.is_object()) throw Error(what + " " + path + " is not valid JSON (an object)");
  return j;
}

// Throws when PATH (or a symbolic link named PATH) exists.
void refuse_existing(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
    throw Error("key file " + path +
                " already exists; choose another --out directory or pass --force to replace it");
  }
}

}  // namespace

bool valid_key_id(const std::string& id) {
  if (id.empty() || id.size() > 64 || id[0] == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::string secret_key_path(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".key";
}
std::string public_key_path(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".pub.json";
}

PublicKey write_key_pair(const std::string& dir, const std::string& id, bool overwrite) {
  if (!valid_key_id(id)) {
    throw UsageError("invalid key id '" + id +
                     "' (1-64 letters, digits, '.', '_', '-', not starting with '.')");
  }
  const std::string spath = secret_key_path(dir, id), ppath = public_key_path(dir, id);
  util::make_dirs(dir);
  if (!overwrite) {
    refuse_existing(spath);
    refuse_existing(ppath);
  }
  std::string secret = random_bytes(kKeyBytes);
  PublicKey pub{id, ed25519_public_key(secret)};
  nlohmann::json s = {{"id", id}, {"scheme", kScheme}, {"secret", to_hex(secret)}};
  std::string text = canonical_json(s) + "\n";
  OPENSSL_cleanse(secret.data(), secret.size());
  OPENSSL_cleanse(s["secret"].get_ref<std::string&>().data(), 2 * kKeyBytes);
  write_secret_file(spath, text);
  OPENSSL_cleanse(text.data(), text.size());
  nlohmann::json p = {{"id", id}, {"scheme", kScheme}, {"public", to_hex(pub.public_key)}};
  util::write_file_atomic(ppath, canonical_json(p) + "\n");
  return pub;
}

SecretKey read_secret_key(const std::string& path) {
  nlohmann::json j = read_secret_file(path);
  if (!j.is_object() || !j.contains("secret") || !j["secret"].is_string() || !j.contains("id") ||
      !j["id"].is_string()) {
    throw Error("key file " + path +
                " is not a secret key (expected {\"id\",\"scheme\",\"secret\"})");
  }
  std::string& hex = j["secret"].get_ref<std::string&>();
  SecretKey key;
  try {
    key.id = j["id"].get<std::string>();
    check_id(key.id, path);
    check_scheme(j, path);
    key.secret = decode_key_hex(hex, "secret", path);
  } catch (...) {
    OPENSSL_cleanse(hex.data(), hex.size());
    throw;
  }
  OPENSSL_cleanse(hex.data(), hex.size());
  return key;
}

PublicKey read_public_key(const std::string& path) {
  if (ends_with(path, ".key")) {
    throw Error(path + " is a secret key file; enroll the public file ID.pub.json instead");
  }
  nlohmann::json j = read_json_object(path, "public key file");
  if (j.contains("secret")) {
    throw Error("public key file " + path +
                " holds a \"secret\": it is a secret key; enroll ID.pub.json instead (and treat "
                "this secret as exposed if the file was shared)");
  }
  check_scheme(j, path);
  if (!j.contains("id") || !j["id"].is_string() || !j.contains("public") ||
      !j["public"].is_string()) {
    throw Error("public key file " + path +
                " lacks \"id\" or \"public\" (expected ID.pub.json "
                "from tdml keys gen --id)");
  }
  PublicKey key{j["id"].get<std::string>(), ""};
  check_id(key.id, path);
  key.public_key = decode_key_hex(j["public"].get<std::string>(), "public key", path);
  return key;
}

std::vector<PublicKey> read_public_keys(const std::vector<std::string>& paths) {
  std::map<std::string, std::string> file_of;  // id -> file it came from
  std::vector<PublicKey> keys;
  for (const auto& path : paths) {
    PublicKey k = read_public_key(path);
    auto [it, fresh] = file_of.emplace(k.id, path);
    if (!fresh) {
      throw Error("duplicate key id '" + k.id + "' in " + it->second + " and " + path +
                  " (each client enrolls once)");
    }
    keys.push_back(std::move(k));
  }
  return sorted_enrollment(std::move(keys));
}

std::vector<PublicKey> sorted_enrollment(std::vector<PublicKey> keys) {
  std::sort(keys.begin(), keys.end(),
            [](const PublicKey& a, const PublicKey& b) { return natural_less(a.id, b.id); });
  for (std::size_t i = 1; i < keys.size(); ++i) {
    if (keys[i].id == keys[i - 1].id) throw Error("duplicate key id '" + keys[i].id + "'");
  }
  return keys;
}

void write_enrollment(const std::string& path, const std::vector<PublicKey>& clients) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& k : sorted_enrollment(clients)) {
    check_id(k.id, path);
    if (k.public_key.size() != kKeyBytes) {
      throw Error("public key of " + k.id + " is not 32 bytes; not writing " + path);
    }
    list.push_back({{"id", k.id}, {"public", to_hex(k.public_key)}});
  }
  nlohmann::json j = {{"scheme", kScheme}, {"clients", list}};
  util::write_file_atomic(path, j.dump(2) + "\n");
}

std::vector<PublicKey> read_enrollment(const std::string& path) {
  nlohmann::json j = read_json_object(path, "enrollment");
  check_scheme(j, path);
  if (!j.contains("clients") || !j["clients"].is_array()) {
    throw Error("enrollment " + path + " has no \"clients\" list (write it with tdml keys enroll)");
  }
  std::vector<PublicKey> out;
  std::set<std::string> seen;
  for (const auto& c : j["clients"]) {
    const std::string where = "enrollment " + path + " entry " + std::to_string(out.size());
    if (!c.is_object() || !c.contains("id") || !c["id"].is_string() || !c.contains("public") ||
        !c["public"].is_string()) {
      throw Error(where + " is not {\"id\":..,\"public\":..}");
    }
    const std::string id = c["id"].get<std::string>();
    if (c.contains("secret")) {
      throw Error(where + " (" + id +
                  ") holds a secret; an enrollment lists public keys only "
                  "(rebuild it with tdml keys enroll)");
    }
    check_id(id, path);
    if (!seen.insert(id).second) throw Error(where + ": duplicate key id '" + id + "'");
    out.push_back(
        {id, decode_key_hex(c["public"].get<std::string>(), "public key of " + id, path)});
  }
  return out;
}

KeyRing enrolled_key_ring(const std::vector<PublicKey>& clients, const std::string& server_id,
                          const std::string& server_secret) {
  KeyRing ring(Scheme::kEd25519);
  ring.add(server_id, server_secret);
  for (const auto& c : clients) {
    if (ring.has(c.id)) {
      throw Error("enrolled client id '" + c.id + "' is " +
                  (c.id == server_id ? "the server's own id" : "enrolled twice"));
    }
    ring.add(c.id, "", c.public_key);
  }
  return ring;
}

bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && is_digit(a[ie])) ++ie;
      while (je < b.size() && is_digit(b[je])) ++je;
      std::size_t iz = i, jz = j;  // skip leading zeros, then compare by length and digits
      while (iz + 1 < ie && a[iz] == '0') ++iz;
      while (jz + 1 < je && b[jz] == '0') ++jz;
      const std::string x = a.substr(iz, ie - iz), y = b.substr(jz, je - jz);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((i < a.size()) != (j < b.size())) return i >= a.size();
  return a < b;  // equal up to leading zeros: any fixed order
}

std::string read_pinned_public_key(const std::string& hex_or_file, const std::string& option) {
  const bool hex = hex_or_file.size() == 64 &&
                   hex_or_file.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (hex) return util::from_hex(hex_or_file);
  if (!std::filesystem::exists(hex_or_file)) {
    throw UsageError(option + " " + hex_or_file +
                     ": neither 64 lower-case hex digits nor a .pub.json file");
  }
  return read_public_key(hex_or_file).public_key;
}

}  // namespace tdml::ledger
