#pragma once
// One Ed25519 key pair per party, for a federation in which each party holds only its own
// secret (`tdml keys gen --id ID`, `tdml keys enroll`):
//   DIR/ID.key        secret, mode 0600: {"id":"ID","scheme":"ed25519","secret":"<hex>"}
//   DIR/ID.pub.json   public:            {"id":"ID","public":"<hex>","scheme":"ed25519"}
//   enrolled.json     the clients a server accepts, in natural id order (client-2 < client-10):
//                     {"clients":[{"id":"client-0","public":"<hex>"},...],"scheme":"ed25519"}
// Keys are 32 raw bytes (the Ed25519 seed / public key); on disk lower-case hex. Every problem is
// a tdml::Error naming the file and what to do; functions are thread-safe (no shared state).
#include <string>
#include <vector>

#include "tdml/ledger/keys.h"

namespace tdml::ledger {

// A key id: [A-Za-z0-9._-]{1,64}, not starting with '.' (no hidden files, no "..").
bool valid_key_id(const std::string& id);

struct SecretKey {
  std::string id;
  std::string secret;  // 32 raw bytes
};

struct PublicKey {
  std::string id;
  std::string public_key;  // 32 raw bytes
};

// DIR/ID.key and DIR/ID.pub.json.
std::string secret_key_path(const std::string& dir, const std::string& id);
std::string public_key_path(const std::string& dir, const std::string& id);

// Generates a fresh key pair and writes DIR/ID.key (0600) and DIR/ID.pub.json, each atomically.
// Refuses a bad id (tdml::UsageError) and, unless overwrite, an existing file of either name.
// Returns the public part.
PublicKey write_key_pair(const std::string& dir, const std::string& id, bool overwrite = false);

// Reads a secret key file. Opens it with O_NOFOLLOW and refuses a symbolic link, a file owned by
// another user, one that group or others may read or write (it must be 0600 or 0400), one
// larger than a key file, and a secret that is not 32 bytes of lower-case hex.
SecretKey read_secret_key(const std::string& path);

// Reads an ID.pub.json. Refuses a file holding a "secret" (or named *.key), an unknown scheme,
// a bad id and a public key that is not 32 bytes of lower-case hex.
PublicKey read_public_key(const std::string& path);

// Reads each ID.pub.json (read_public_key) and returns them in natural id order; refuses a
// duplicate id naming both files. What `tdml keys enroll` writes.
std::vector<PublicKey> read_public_keys(const std::vector<std::string>& paths);

// Sorts `keys` in natural id order (client-2 before client-10); refuses a duplicate id.
std::vector<PublicKey> sorted_enrollment(std::vector<PublicKey> keys);

// Writes enrolled.json atomically (entries sorted and checked by sorted_enrollment).
void write_enrollment(const std::string& path, const std::vector<PublicKey>& clients);

// Reads enrolled.json; refuses an entry holding a secret, a duplicate id, a bad id or key, and
// a scheme other than ed25519. Entries in file order.
std::vector<PublicKey> read_enrollment(const std::string& path);

// The key ring of a federation server: its own secret (it signs rounds) and every enrolled
// client's public key only (has_secret(client) is false). Refuses a client id equal to
// server_id.
KeyRing enrolled_key_ring(const std::vector<PublicKey>& clients, const std::string& server_id,
                          const std::string& server_secret);

// A public key an auditor pins: 64 lower-case hex digits, or an ID.pub.json file (tdml keys gen
// --id). Returns the 32 raw bytes; tdml::UsageError naming `option` otherwise.
std::string read_pinned_public_key(const std::string& hex_or_file, const std::string& option);

// True when a < b in natural order: runs of digits compare as numbers ("client-2" < "client-10").
bool natural_less(const std::string& a, const std::string& b);

}  // namespace tdml::ledger
