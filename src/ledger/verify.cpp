#include "tdml/ledger/verify.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "chain.h"
#include "tdml/ledger/block.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/genesis.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/ledger.h"
#include "tdml/ledger/merkle.h"
#include "tdml/ledger/update_signature.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"
#include "tdml/util/parallel.h"
#include "tdml/util/fs.h"
#include "tdml/util/system.h"

namespace tdml::ledger {
namespace {

// Checks the client entries of an FL block; returns "" or the reason.
struct LineCheck {
  detail::Block block;
  std::string format_error;     // the line itself is broken (JSON, canonical form, hash)
  std::string signature_error;  // server or client signature (checked only with keys)
  std::int64_t client_signatures = 0;
  std::int64_t rejected = 0;
};

std::string check_clients(const nlohmann::json& body, const KeyRing& keys, LineCheck& r) {
  if (!body.contains("clients") || !body["clients"].is_array()) return "no clients list";
  if (!body.contains("round") || !body["round"].is_number_integer()) return "no round";
  if (!body.contains("model_before") || !body["model_before"].is_string()) return "no model_before";
  std::set<std::string> seen;
  for (const auto& cj : body["clients"]) {
    ClientEntry c;
    try {
      c = client_entry_from_json(cj);
    } catch (const Error& e) {
      return e.what();
    }
    if (!seen.insert(c.id).second) return "client " + c.id + " appears twice";
    if (c.status == UpdateStatus::kLate || c.status == UpdateStatus::kDropped) continue;
    UpdateClaim claim{
        c.id,          body["round"].get<std::int64_t>(),       c.samples,
        c.update_hash, body["model_before"].get<std::string>(), body.value("run_id", "")};
    if (!keys.has(c.id)) return "client " + c.id + " is not in the key manifest";
    if (!keys.verifier(c.id)) return "no secret key to check " + c.id + "'s HMAC signature";
    const bool valid = !c.signature.empty() && verify_update_signature(keys, claim, c.signature);
    if (c.status == UpdateStatus::kRefused) {
      // The evidence must really fail: a server may not refuse an honest client's update.
      if (valid) return "client " + c.id + " is marked refused but its signature is valid";
      ++r.rejected;
      continue;
    }
    if (!valid) {
      return "client " + c.id + "'s update signature is invalid (status " + status_name(c.status) +
             ")";
    }
    if (c.status == UpdateStatus::kRejected) ++r.rejected;
    ++r.client_signatures;
  }
  return "";
}

// One entry per sampled client, none for a client not sampled ("" or the reason).
std::string check_sampled(const nlohmann::json& body) {
  if (!body.contains("sampled")) return "";
  if (!body["sampled"].is_array()) return "sampled is not a list";
  std::set<std::string> sampled, entries;
  for (const auto& s : body["sampled"]) {
    if (!s.is_string() || !sampled.insert(s.get<std::string>()).second) {
      return "sampled lists a client twice or a non-string id";
    }
  }
  for (const auto& e : body.value("clients", nlohmann::json::array())) {
    const auto id = e.is_object() ? e.value("id", std::string()) : std::string();
    if (!sampled.count(id)) return "client " + id + " has an entry but was not sampled";
    entries.insert(id);
  }
  for (const auto& s : sampled) {
    if (!entries.count(s)) return "sampled client " + s + " has no entry (dropped from the block)";
  }
  return "";
}

std::string last_model_hash(const nlohmann::json& body) {
  for (const char* key : {"model_after", "model_hash"}) {
    if (body.contains(key) && body[key].is_string()) return body[key].get<std::string>();
  }
  return "";
}

// Everything about one line that does not depend on its neighbours.
LineCheck check_line(const std::string& line, const KeyRing* keys, const Verifier* server) {
  LineCheck c;
  c.format_error = detail::check_block(line, c.block);
  if (!c.format_error.empty()) return c;
  const auto& body = c.block.body;
  const bool fl = body.value("kind", "") == kRoundKind;
  if (fl) {
    try {
      c.format_error = check_sampled(body);
    } catch (const std::exception& e) {
      c.format_error = std::string("malformed clients: ") + e.what();
    }
    if (!c.format_error.empty()) return c;
  }
  if (!keys) {
    if (fl) {
      for (const auto& e : body.value("clients", nlohmann::json::array())) {
        const auto st = e.is_object() && e.contains("status") && e["status"].is_string()
                            ? e["status"].get<std::string>()
                            : "";
        if (st == "rejected" || st == "refused") ++c.rejected;
      }
    }
    return c;
  }
  if (body.value("scheme", "") != scheme_name(keys->scheme())) {
    c.signature_error = "block is signed with " + body.value("scheme", std::string("?")) +
                        " but the keys are " + scheme_name(keys->scheme());
  } else if (!verify_hex(*server, block_message(c.block.hash), c.block.server_sig)) {
    c.signature_error = "server signature is invalid (wrong key or edited signature)";
  } else if (fl) {
    c.signature_error = check_clients(body, *keys, c);
  }
  return c;
}

// A string field, "" when missing or not a string (a broken block must not throw).
std::string str_of(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Rounds (FL) and epochs (train) strictly increase along the chain, so no round is replayed or
// reordered; "" or the reason.
std::string check_order(const nlohmann::json& body, std::map<std::string, std::int64_t>& last) {
  const auto kind = str_of(body, "kind");
  const char* field = kind == kRoundKind ? "round" : kind == kEpochKind ? "epoch" : nullptr;
  if (!field) return "";
  if (!body.contains(field) || !body[field].is_number_integer()) {
    return std::string("no integer ") + field;
  }
  const auto step = body[field].get<std::int64_t>();
  const auto it = last.find(kind);
  if (it != last.end() && step <= it->second) {
    return std::string(field) + " " + std::to_string(step) + " after " + field + " " +
           std::to_string(it->second) + ": " + field +
           "s must strictly increase (a replayed or "
           "reordered block)";
  }
  last[kind] = step;
  return "";
}

// Model continuity: an FL round starts from the model the previous round ended with (both hashes
// in the one model-hash encoding, hash.h), so the server cannot swap the global model between
// rounds unseen; "" or the reason.
std::string check_continuity(const nlohmann::json& body, std::string& last_model_after) {
  if (str_of(body, "kind") != kRoundKind) return "";
  const auto before = str_of(body, "model_before");
  if (!last_model_after.empty() && before != last_model_after) {
    return "model_before " + before.substr(0, 16) + "... is not the previous round's model_after " +
           last_model_after.substr(0, 16) + "... (the global model changed between rounds)";
  }
  last_model_after = str_of(body, "model_after");
  return "";
}

// Block 0's run id (the head must name the same run).
std::string first_run_id(const std::vector<std::string>& lines) {
  if (lines.empty()) return "";
  const auto j = nlohmann::json::parse(lines[0], nullptr, false);
  return j.is_object() ? j.value("run_id", "") : "";
}

VerifyReport fail(VerifyReport r, std::int64_t block, const std::string& reason) {
  r.ok = false;
  r.bad_block = block;
  r.reason = reason;
  return r;
}

}  // namespace

std::string VerifyReport::summary() const {
  std::ostringstream os;
  if (!ok) {
    os << "ledger BROKEN";
    if (bad_block >= 0) os << " at block " << bad_block;
    os << ": " << reason;
    return os.str();
  }
  os << "ledger OK: " << blocks << " blocks, chain and head intact";
  if (signatures_checked) {
    os << ", " << blocks << " server and " << client_signatures << " client signatures valid";
  } else {
    os << ", signatures NOT checked (no --keys)";
  }
  os << ", " << rejected << " refused or rejected updates";
  if (trusted_size >= 0) os << ", extends the trusted head of " << trusted_size << " blocks";
  if (!run_id.empty()) {
    os << ", run " << run_id << " (trust " << trust;
    if (!transport.empty()) os << ", transport " << transport;
    os << ")";
  }
  if (transport == "grpc-insecure") {
    os << " [PLAINTEXT: the parties talked without TLS (--insecure, for loopback tests)]";
  }
  if (trust == "simulation") {
    os << " [one operator held every key: client signatures prove nothing against it]";
  }
  if (scheme == "hmac") {
    os << " (HMAC: NOT third-party verifiable, whoever can verify it can also forge it)";
  }
  if (model_checked) os << ", model file matches";
  if (repaired) os << ", torn last line removed";
  os << "; last hash " << last_hash;
  return os.str();
}

namespace {

// The chain: every complete line parses, is the next index, links to the previous hash and
// carries valid signatures. Fills r.blocks, r.last_hash and the counts; false after fail().
// Signatures dominate the cost: lines are checked in parallel windows, then linked in order so
// the report names the first broken block exactly as a sequential pass would.
bool check_chain(const std::vector<std::string>& lines, const KeyRing* keys, const Verifier* server,
                 const std::string& run_id, VerifyReport& r, std::vector<std::string>& hashes,
                 nlohmann::json& last_body) {
  std::map<std::string, std::int64_t> last_step;  // kind -> its last round / epoch
  std::string last_model_after;                   // the last FL round's model_after
  const std::size_t total = lines.size();
  const std::size_t window = 2048;
  std::vector<LineCheck> checks;
  for (std::size_t start = 0; start < total; start += window) {
    const std::size_t count = std::min(window, total - start);
    checks.assign(count, LineCheck{});
    // Up to 16 threads, at least 16 blocks each (inline when the ledger or the machine is small).
    const int threads = static_cast<int>(std::min(16u, std::max(1u, std::thread::hardware_concurrency())));
    util::parallel_ranges(static_cast<std::int64_t>(count), threads, 16, [&](std::int64_t first,
                                                                             std::int64_t last) {
      for (auto k = static_cast<std::size_t>(first); k < static_cast<std::size_t>(last); ++k) {
        try {
          checks[k] = check_line(lines[start + k], keys, server);
        } catch (const std::exception& e) {  // e.g. OpenSSL failing: a reason, not an exception
          checks[k].format_error = std::string("cannot check: ") + e.what();
        }
      }
    });
    for (std::size_t k = 0; k < count; ++k) {
      const auto idx = static_cast<std::int64_t>(start + k);
      LineCheck& c = checks[k];
      const auto broken = [&](const std::string& why) {
        r = fail(r, idx, why);
        return false;
      };
      if (!c.format_error.empty()) return broken(c.format_error);
      if (c.block.index != idx) {
        return broken("index is " + std::to_string(c.block.index) +
                      " (blocks were deleted, duplicated, reordered or inserted)");
      }
      const std::string& expect_prev = hashes.empty() ? genesis_hash() : hashes.back();
      if (c.block.prev_hash != expect_prev) {
        return broken("prev_hash does not match the previous block's hash (chain broken)");
      }
      if (!c.signature_error.empty()) return broken(c.signature_error);
      if (const auto why = check_order(c.block.body, last_step); !why.empty()) return broken(why);
      if (const auto why = check_continuity(c.block.body, last_model_after); !why.empty()) {
        return broken(why);
      }
      if (!run_id.empty() && str_of(c.block.body, "run_id") != run_id) {
        return broken("the block names another run than the genesis (copied from another run?)");
      }
      if (idx > 0 && str_of(c.block.body, "kind") == kGenesisKind) {
        return broken("a second genesis block");
      }
      r.client_signatures += c.client_signatures;
      r.rejected += c.rejected;
      hashes.push_back(c.block.hash);
      last_body = std::move(c.block.body);
      r.blocks = idx + 1;
      r.last_hash = hashes.back();
    }
  }
  return true;
}

// The signed tree head: present, well-formed, signed, covering all blocks (or, after an
// interrupted append, all but the last) with their Merkle root. false after fail().
bool check_head(const std::string& path, const Verifier* server,
                const std::vector<std::string>& hashes, const MerkleTree& tree,
                const std::string& run_id, VerifyReport& r) {
  const auto n = static_cast<std::int64_t>(hashes.size());
  const auto broken = [&](std::int64_t block, const std::string& why) {
    r = fail(r, block, why);
    return false;
  };
  const std::string hpath = head_path(path);
  if (!std::filesystem::exists(hpath)) {
    return broken(n - 1,
                  "head record " + hpath + " is missing (dropped tail blocks would go unseen)");
  }
  SignedHead head;
  std::string why = detail::parse_head(util::read_file(hpath), head);
  if (!why.empty()) return broken(n - 1, why);
  if (server && !head.verify(*server)) return broken(n - 1, "head record signature is invalid");
  if (head.size > n) {
    return broken(n, "the head names block " + std::to_string(head.index) +
                         " but the ledger ends at block " + std::to_string(n - 1) +
                         ": blocks were removed from the end");
  }
  if (head.hash != hashes[head.index]) {
    return broken(head.index,
                  "the head's hash differs from block " + std::to_string(head.index) + "'s hash");
  }
  if (head.root != to_hex(tree.root_at(static_cast<std::size_t>(head.size)))) {
    return broken(head.index, "the head's Merkle root does not match the blocks");
  }
  if (head.run_id != run_id) return broken(0, "the head names another run than block 0");
  if (head.index == n - 2) {
    r.warnings.push_back("the head names block " + std::to_string(head.index) +
                         ", one behind the last block: the writer stopped between an append and "
                         "its head update (the last block is still chained and signed)");
  } else if (head.index != n - 1) {
    return broken(head.index + 1, "the head names block " + std::to_string(head.index) +
                                      " but the ledger has " + std::to_string(n) +
                                      " blocks (an old head record?)");
  }
  r.head = head;
  return true;
}

// --trusted-head FILE: the ledger extends that head. false after fail().
bool check_trusted(const SignedHead& t, const MerkleTree& tree, const Verifier* server,
                   VerifyReport& r) {
  if (server && !t.verify(*server)) {
    r = fail(r, -1, "the trusted head's signature is invalid (not this server's head)");
    return false;
  }
  if (t.run_id != r.head.run_id) {
    r = fail(r, 0, "the trusted head is of another run (" + t.run_id + ")");
    return false;
  }
  if (static_cast<std::size_t>(t.size) > tree.size()) {
    r = fail(r, static_cast<std::int64_t>(tree.size()),
             "the ledger has " + std::to_string(tree.size()) + " blocks but the trusted head " +
                 "covers " + std::to_string(t.size) + ": rolled back");
    return false;
  }
  if (to_hex(tree.root_at(static_cast<std::size_t>(t.size))) != t.root) {
    r = fail(r, t.size - 1,
             "the first " + std::to_string(t.size) +
                 " blocks do not have the trusted head's "
                 "Merkle root: the ledger was forked or an old block rewritten");
    return false;
  }
  r.trusted_size = t.size;
  return true;
}

// --model FILE: the file hashes to the last block's model hash. false after fail().
bool check_model(const std::string& model_path, const nlohmann::json& last_body, std::int64_t last,
                 VerifyReport& r) {
  if (!std::filesystem::exists(model_path)) throw Error("no model file " + model_path);
  const std::string want = last_model_hash(last_body);
  // An FL block names the federated model: its floating-point entries (fl/model_hash.h).
  auto sd = models::load_tensors(model_path);
  if (str_of(last_body, "kind") == kRoundKind) sd = floating_entries(sd);
  const std::string got = model_hash(sd);
  if (want.empty()) {
    r = fail(r, last, "the last block names no model hash");
    return false;
  }
  if (got != want) {
    r = fail(r, last,
             "model file " + model_path + " hashes to " + got.substr(0, 16) +
                 "..., the last block names " + want.substr(0, 16) + "...");
    return false;
  }
  r.model_checked = true;
  return true;
}

// --repair, under the writer lock: a tail that is a complete block (it only lost its newline)
// gets its newline back; anything else is kept in LEDGER.repaired-<time> and cut off.
void repair_tail(const std::string& path, detail::Lines& lines, VerifyReport& r) {
  const std::string lock = path + ".lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    throw Error("cannot repair " + path + ": a writer holds it (" + lock + ")");
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{fd};
  detail::Block b;
  const std::string expect_prev = lines.complete.empty() ? genesis_hash() : [&] {
    detail::Block prev;
    return detail::check_block(lines.complete.back(), prev).empty() ? prev.hash : "";
  }();
  if (detail::check_block(lines.torn, b).empty() &&
      b.index == static_cast<std::int64_t>(lines.complete.size()) && b.prev_hash == expect_prev) {
    std::ofstream(path, std::ios::app | std::ios::binary) << "\n";
    r.warnings.push_back("restored the newline of block " + std::to_string(b.index) +
                         " (complete, it had only lost its line end)");
    lines.complete.push_back(lines.torn);
  } else {
    const std::string kept = path + ".repaired-" + util::utc_timestamp();
    util::write_file_atomic(kept, lines.torn);
    if (::truncate(path.c_str(), static_cast<off_t>(lines.complete_bytes)) != 0) {
      throw Error("cannot truncate " + path + ": " + std::strerror(errno));
    }
    r.warnings.push_back("removed a torn last line of " + std::to_string(lines.torn.size()) +
                         " bytes (an interrupted append), kept in " + kept);
  }
  r.repaired = true;
  lines.torn.clear();
}

}  // namespace

VerifyReport verify_ledger(const std::string& path, const VerifyOptions& options) {
  VerifyReport r;
  r.signatures_checked = options.keys != nullptr;
  if (!std::filesystem::exists(path)) throw Error("no ledger file " + path);
  auto lines = detail::split_lines(detail::read_ledger_text(path));
  if (!lines.torn.empty() && options.repair) repair_tail(path, lines, r);
  const KeyRing* keys = options.keys;
  KeyRing with_genesis;
  std::string run_id;
  if (!lines.complete.empty()) {
    detail::Block b0;
    if (detail::check_block(lines.complete[0], b0).empty() &&
        b0.body.value("kind", "") == kGenesisKind) {
      Genesis g;
      try {
        g = Genesis::from_json(b0.body);
      } catch (const Error& e) {
        return fail(r, 0, e.what());
      }
      run_id = r.run_id = g.run_id;
      r.trust = g.trust;
      r.transport = g.transport;
      if (keys && keys->scheme() == Scheme::kEd25519 &&
          keys->public_key(kServerKeyId) != g.public_key(kServerKeyId)) {
        return fail(r, 0,
                    "the genesis names another server key than the one given (a ledger "
                    "re-signed with substituted keys?)");
      }
      if (keys && options.keys_from_genesis) {
        with_genesis = *keys;
        for (const auto& k : g.keys) {
          if (!with_genesis.has(k.id) && !k.public_key.empty())
            with_genesis.add(k.id, "", k.public_key);
        }
        keys = &with_genesis;
      }
    } else {
      r.warnings.push_back(
          "no genesis block: the run id, trust mode and keys are not pinned in "
          "the ledger");
    }
  }
  std::shared_ptr<const Verifier> server;
  if (keys) {
    server = keys->verifier(kServerKeyId);
    if (!server) return fail(r, -1, "the keys hold no usable 'server' key (hmac needs server.key)");
  }
  std::vector<std::string> hashes;
  nlohmann::json last_body;
  if (!check_chain(lines.complete, keys, server.get(), run_id, r, hashes, last_body)) return r;
  if (!lines.complete.empty()) {
    const auto b0 = nlohmann::json::parse(lines.complete[0], nullptr, false);
    r.scheme = b0.is_object() ? b0.value("scheme", "") : "";
  }
  const auto n = static_cast<std::int64_t>(hashes.size());
  if (!lines.torn.empty()) {
    return fail(r, n,
                "torn last line (" + std::to_string(lines.torn.size()) +
                    " bytes without a newline): an append was interrupted or the file was "
                    "cut; 'tdml ledger verify --repair' drops it");
  }
  if (n == 0) return fail(r, -1, "the ledger has no blocks");
  MerkleTree tree;
  for (const auto& line : lines.complete) tree.append(detail::block_leaf(line));
  if (!check_head(path, server.get(), hashes, tree, first_run_id(lines.complete), r)) return r;
  if (options.trusted_head && !check_trusted(*options.trusted_head, tree, server.get(), r)) {
    return r;
  }
  if (!options.model_path.empty() && !check_model(options.model_path, last_body, n - 1, r)) {
    return r;
  }
  r.ok = true;
  return r;
}

namespace {
std::string metric_text(const nlohmann::json& v) {
  if (v.is_number_float()) {
    std::ostringstream os;
    os.precision(4);
    os << v.get<double>();
    return os.str();
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}
}  // namespace

std::string format_ledger_table(const std::string& path) {
  auto lines = detail::split_lines(detail::read_ledger_text(path));
  std::ostringstream os;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%6s  %-11s  %6s  %8s  %7s  %7s  %8s  %7s  %7s  %s\n", "block",
                "kind", "round", "accepted", "clipped", "flagged", "rejected", "refused", "missing",
                "metrics");
  os << buf;
  for (std::size_t i = 0; i < lines.complete.size(); ++i) {
    nlohmann::json b;
    try {
      b = nlohmann::json::parse(lines.complete[i]);
    } catch (const nlohmann::json::exception&) {
      throw Error("line " + std::to_string(i + 1) + " of " + path + " is not valid JSON");
    }
    if (!b.is_object()) {
      throw Error("line " + std::to_string(i + 1) + " of " + path + " is not a JSON object");
    }
    int counts[7] = {0, 0, 0, 0, 0, 0, 0};
    for (const auto& c : b.value("clients", nlohmann::json::array())) {
      try {
        ++counts[static_cast<int>(parse_status(c.value("status", "")))];
      } catch (const std::exception&) {  // not a status (show does not verify)
      }
    }
    const auto step = b.contains("round") ? b["round"] : b.value("epoch", nlohmann::json());
    const auto index =
        b.contains("index") && b["index"].is_number_integer() ? b["index"].get<long long>() : -1;
    const auto kind = str_of(b, "kind").empty() ? std::string("?") : str_of(b, "kind");
    std::string metrics;
    const auto metric_values = b.value("metrics", nlohmann::json::object());
    for (const auto& [k, v] : metric_values.items()) {
      metrics += (metrics.empty() ? "" : " ") + k + "=" + metric_text(v);
    }
    std::snprintf(buf, sizeof buf, "%6lld  %-11s  %6s  %8d  %7d  %7d  %8d  %7d  %7d  ", index,
                  kind.c_str(), step.dump().c_str(), counts[0], counts[1], counts[2], counts[3],
                  counts[4], counts[5] + counts[6]);
    os << buf << metrics << "\n";
  }
  if (!lines.torn.empty()) os << "(torn last line of " << lines.torn.size() << " bytes)\n";
  return os.str();
}

}  // namespace tdml::ledger
