#include "tdml/ledger/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "chain.h"
#include "tdml/ledger/canonical_json.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/system.h"

namespace tdml::ledger {
namespace {

std::string dir_of(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: some file systems refuse to open directories
  ::fsync(fd);
  ::close(fd);
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot append to " + path + ": " + std::strerror(errno));
    off += static_cast<std::size_t>(n);
  }
}

// Temp file + (fsync) + rename (+ directory fsync): readers see the old or the new head.
void write_atomic(const std::string& path, const std::string& bytes, bool sync) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  write_all(fd, bytes, tmp);
  if ((sync && ::fsync(fd) != 0) || ::close(fd) != 0 ||
      std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error("cannot write " + path + ": " + std::strerror(e));
  }
  if (sync) fsync_dir(dir_of(path));
}

}  // namespace

const std::string& genesis_hash() {
  static const std::string zeros(64, '0');
  return zeros;
}

std::string block_message(const std::string& hash) { return "tdml.block.v1:" + hash; }

bool verify_hex(const Verifier& v, const std::string& message, const std::string& sig_hex) {
  try {
    return v.verify(message, from_hex(sig_hex));
  } catch (const std::exception&) {
    return false;
  }
}

std::string head_path(const std::string& ledger_path) {
  const std::string ext = ".jsonl";
  if (ledger_path.size() > ext.size() &&
      ledger_path.compare(ledger_path.size() - ext.size(), ext.size(), ext) == 0) {
    return ledger_path.substr(0, ledger_path.size() - ext.size()) + ".head";
  }
  return ledger_path + ".head";
}

std::unique_ptr<Ledger> Ledger::open(const std::string& path,
                                     std::shared_ptr<const Signer> server_signer,
                                     LedgerOptions options) {
  if (!server_signer) throw Error("Ledger::open: no server signer");
  if (server_signer->key_id() != kServerKeyId) {
    throw Error("ledger blocks must be signed by the 'server' key, not '" +
                server_signer->key_id() + "'");
  }
  std::unique_ptr<Ledger> l(new Ledger());
  l->path_ = path;
  l->signer_ = std::move(server_signer);
  l->options_ = options;
  l->last_hash_ = genesis_hash();
  util::make_dirs(dir_of(path));

  const std::string lock = path + ".lock";
  l->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (l->lock_fd_ < 0) throw Error("cannot open lock file " + lock + ": " + std::strerror(errno));
  if (::flock(l->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    throw Error("ledger " + path + " is already open by another writer (lock " + lock +
                " is held); only one process may append to a ledger");
  }

  const bool existed = std::filesystem::exists(path);
  if (existed && std::filesystem::file_size(path) > 0 && !options.resume) {
    throw Error("ledger " + path +
                " already holds a run: continue it with --resume, or give a "
                "new ledger path");
  }
  if (existed) {
    auto lines = detail::split_lines(detail::read_ledger_text(path));
    if (!lines.torn.empty()) {
      throw Error("ledger " + path +
                  " ends with a torn line (an append was interrupted); run: "
                  "tdml ledger verify " +
                  path + " --repair");
    }
    for (const auto& line : lines.complete) {
      detail::Block b;
      std::string why = detail::check_block(line, b);
      if (why.empty() && b.index != l->next_index_) why = "index out of sequence";
      if (why.empty() && b.prev_hash != l->last_hash_) why = "prev_hash does not link";
      if (why.empty() && !verify_hex(*l->signer_, block_message(b.hash), b.server_sig)) {
        why = "its server signature does not verify with this server's key";
      }
      if (!why.empty()) {
        throw Error("cannot continue ledger " + path + ": block " + std::to_string(l->next_index_) +
                    ": " + why + " (run tdml ledger verify)");
      }
      if (l->next_index_ == 0) l->run_id_ = b.body.value("run_id", "");
      l->tree_.append(detail::block_leaf(line));
      l->last_hash_ = b.hash;
      ++l->next_index_;
    }
    l->check_head();
  }
  l->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (l->fd_ < 0) throw Error("cannot open ledger " + path + ": " + std::strerror(errno));
  if (!existed && options.fsync) fsync_dir(dir_of(path));
  // Re-sign the head when it lags one block (a crash between an append and its head update):
  // check_head verified the head it had and every block's signature.
  if (l->next_index_ > 0) l->write_head();
  if (l->next_index_ == 0 && options.genesis) {
    l->append(kGenesisKind, options.genesis->to_json());
  }
  return l;
}

void Ledger::check_head() const {
  const std::string hpath = head_path(path_);
  const auto n = next_index_;
  if (n == 0) return;
  const auto refuse = [&](const std::string& why) {
    throw Error("cannot continue ledger " + path_ + ": " + why + " (run tdml ledger verify)");
  };
  if (!std::filesystem::exists(hpath)) {
    if (n == 1) return;  // a crash between the first block and its head
    refuse("its head " + hpath + " is missing");
  }
  SignedHead head;
  if (const auto why = detail::parse_head(util::read_file(hpath), head); !why.empty()) refuse(why);
  if (!head.verify(*signer_)) refuse("its head's signature does not verify with this server's key");
  if (head.size > n) {
    refuse("it has " + std::to_string(n) + " blocks but its head covers " +
           std::to_string(head.size) + ": blocks were removed");
  }
  if (head.size < n - 1) {
    refuse("its head covers " + std::to_string(head.size) + " of " + std::to_string(n) +
           " blocks (an old head?)");
  }
  if (head.root != to_hex(tree_.root_at(static_cast<std::size_t>(head.size))) ||
      head.run_id != run_id_) {
    refuse("its head's Merkle root or run id does not match its blocks");
  }
}

Ledger::~Ledger() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

SignedHead Ledger::head() const {
  SignedHead h;
  h.run_id = run_id_;
  h.size = next_index_;
  h.root = to_hex(tree_.root());
  h.index = next_index_ - 1;
  h.hash = last_hash_;
  h.time = util::utc_timestamp();
  h.sign(*signer_);
  return h;
}

void Ledger::write_head() {
  write_atomic(head_path(path_), canonical_json(head().to_json()) + "\n", options_.fsync);
}

std::string Ledger::append(const std::string& kind, const nlohmann::json& body) {
  if (!body.is_object()) throw Error("ledger block body must be a JSON object");
  if (fd_ < 0) throw Error("ledger " + path_ + " failed earlier and is closed; reopen it");
  nlohmann::json b = finite_json(body);
  b.erase("hash");
  b.erase("server_sig");
  b["index"] = next_index_;
  b["prev_hash"] = last_hash_;
  b["kind"] = kind;
  b["scheme"] = scheme_name(signer_->scheme());
  b["timestamp"] = util::utc_timestamp();
  if (!run_id_.empty()) {
    if (b.contains("run_id") && b["run_id"] != run_id_ && b["run_id"] != "") {
      throw Error("ledger " + path_ + " is run " + run_id_ + "'s: refusing a block of run " +
                  b["run_id"].dump());
    }
    b["run_id"] = run_id_;
  }
  const std::string hash = sha256_hex(canonical_json(b));
  b["hash"] = hash;
  b["server_sig"] = to_hex(signer_->sign(block_message(hash)));
  const std::string line = canonical_json(b);
  try {
    write_all(fd_, line + "\n", path_);
    if (options_.fsync && ::fsync(fd_) != 0) {
      throw Error("cannot flush ledger " + path_ + ": " + std::strerror(errno));
    }
  } catch (const Error&) {
    // A partial line may be on disk: stop appending after it (verify --repair removes it).
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  if (next_index_ == 0) run_id_ = b.value("run_id", "");
  tree_.append(detail::block_leaf(line));
  last_hash_ = hash;
  ++next_index_;
  write_head();
  return hash;
}

std::string Ledger::append(const RoundRecord& round) { return append(kRoundKind, to_json(round)); }
std::string Ledger::append(const EpochRecord& epoch) { return append(kEpochKind, to_json(epoch)); }

}  // namespace tdml::ledger
