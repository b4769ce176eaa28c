#pragma once
// An append-only Merkle tree as in RFC 9162 (Certificate Transparency v2) section 2.1, so that a
// log of records can prove that one record is in it (inclusion) and that a later head extends an
// earlier one without rewriting it (consistency), each with O(log n) hashes:
//   leaf hash   SHA-256(0x00 || data)
//   node hash   SHA-256(0x01 || left || right)
//   MTH({})     SHA-256("")
//   MTH(D[n])   MTH(D[0:k]) and MTH(D[k:n]) combined, k the largest power of two smaller than n
// The 0x00/0x01 prefixes keep a leaf from passing for an inner node (second-preimage attacks).
// Hashes are raw 32-byte strings throughout; hex only at the edges (util::to_hex). Generators
// throw tdml::Error on invalid arguments (a bad index or size, a hash that is not 32 bytes);
// verifiers never throw on malformed input, they return false. Functions are thread-safe; a
// MerkleTree is safe to read from many threads while none appends.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tdml::ledger {

// The size of every hash here: SHA-256.
inline constexpr std::size_t kMerkleHashSize = 32;

// SHA-256(0x00 || leaf_data): the hash of one record as a leaf.
std::string merkle_leaf_hash(std::string_view leaf_data);

// SHA-256(0x01 || left || right): the hash of an inner node. Throws unless both are 32 bytes.
std::string merkle_node_hash(std::string_view left, std::string_view right);

// MTH (RFC 9162 2.1.1) over the leaf hashes: SHA-256("") for none, the leaf hash itself for one.
// O(n). Throws if a leaf hash is not 32 bytes.
std::string merkle_root(const std::vector<std::string>& leaf_hashes);

// PATH(index, D[n]) (RFC 9162 2.1.3.1): the sibling hashes from the leaf up to the root.
// O(n); MerkleTree::inclusion_proof is O(log n). Throws if index >= n.
std::vector<std::string> inclusion_proof(const std::vector<std::string>& leaf_hashes,
                                         std::size_t index);

// RFC 9162 2.1.3.2: true when `proof` shows that `leaf_hash` is leaf `index` of the tree of
// `tree_size` leaves whose root is `root`. False, never a throw, on malformed input: index >=
// tree_size, a proof too long or too short, a hash that is not 32 bytes. The tree size is bound
// only through the root: check the root belongs to a head of that size.
bool verify_inclusion(std::string_view leaf_hash, std::size_t index, std::size_t tree_size,
                      const std::vector<std::string>& proof, std::string_view root);

// PROOF(old_size, D[n]) (RFC 9162 2.1.4.1): shows that the tree of the first old_size leaves is
// a prefix of the whole tree. Empty when old_size == n. O(n); MerkleTree::consistency_proof is
// O(log n). Throws unless 0 < old_size <= n.
std::vector<std::string> consistency_proof(const std::vector<std::string>& leaf_hashes,
                                           std::size_t old_size);

// RFC 9162 2.1.4.2: true when `proof` shows that the tree of new_size leaves with root new_root
// extends the tree of old_size leaves with root old_root. old_size == new_size needs an empty
// proof and equal roots. False, never a throw, on malformed input: old_size == 0, old_size >
// new_size, a proof too long or too short, a hash that is not 32 bytes.
bool verify_consistency(std::size_t old_size, std::size_t new_size, std::string_view old_root,
                        std::string_view new_root, const std::vector<std::string>& proof);

// A tree that grows one leaf hash at a time and proves against its current head or any older
// one. It keeps every level of complete subtrees (level 0 the leaves, level j the hashes of the
// aligned runs of 2^j leaves), about 2n hashes, so that any subtree hash the proofs need is a
// lookup or, on the ragged right edge, O(log n) node hashes. The last entry of each level whose
// count is odd is the compact range of the head (its full-subtree roots), so append() is
// amortised O(1) and root() O(log n).
class MerkleTree {
 public:
  MerkleTree() = default;
  explicit MerkleTree(const std::vector<std::string>& leaf_hashes);

  // Appends a leaf hash (merkle_leaf_hash of the record). Throws unless it is 32 bytes.
  void append(std::string_view leaf_hash);

  std::size_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  // Leaf hash `index`; throws if index >= size().
  std::string leaf_hash(std::size_t index) const;

  // MTH of all leaves; of the first tree_size leaves (an older head, O(log n) as well). root_at
  // throws if tree_size > size().
  std::string root() const { return root_at(size()); }
  std::string root_at(std::size_t tree_size) const;

  // The same proofs as the free functions over the first tree_size / new_size leaves, in
  // O(log n) hashes. Throw unless index < tree_size <= size(), and 0 < old_size <= new_size <=
  // size().
  std::vector<std::string> inclusion_proof(std::size_t index, std::size_t tree_size) const;
  std::vector<std::string> consistency_proof(std::size_t old_size, std::size_t new_size) const;

 private:
  using Hash = std::array<char, kMerkleHashSize>;

  // MTH(D[begin:end]), 0 <= begin < end <= size().
  std::string subtree_hash(std::size_t begin, std::size_t end) const;

  std::vector<std::vector<Hash>> levels_;
};

}  // namespace tdml::ledger
