#include "tdml/ledger/merkle.h"

#include <algorithm>
#include <cstring>

#include "tdml/util/error.h"
#include "tdml/util/sha256.h"

namespace tdml::ledger {

namespace {

// SHA-256(0x01 || left || right), sizes already checked.
std::string node_hash(std::string_view left, std::string_view right) {
  util::Sha256 h;
  const char prefix = 0x01;
  h.update(&prefix, 1);
  h.update(left);
  h.update(right);
  return h.digest();
}

std::string empty_root() {
  util::Sha256 h;
  return h.digest();
}

// The k of RFC 9162 2.1.1: the largest power of two smaller than n, n >= 2.
std::size_t split_point(std::size_t n) {
  std::size_t k = 1;
  while (k < n - k) k <<= 1;  // k < n / 2 without overflowing k << 1
  return k;
}

bool is_power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

void check_hash(std::string_view hash, const char* what) {
  if (hash.size() != kMerkleHashSize)
    throw Error(std::string("merkle: ") + what + " is " + std::to_string(hash.size()) +
                " bytes, not a 32-byte SHA-256 (raw, not hex)");
}

void check_leaf_hashes(const std::vector<std::string>& leaf_hashes) {
  for (const auto& h : leaf_hashes) check_hash(h, "a leaf hash");
}

// The proof generators of RFC 9162 written once, over any source of subtree hashes: `mth(begin,
// end)` is MTH(D[begin:end]). `m` counts from `begin`. Both append leaf-to-root, as the RFC's
// ":" puts the sub-proof first. Recursion depth is at most the tree height (< 64).

// PATH(m, D[begin:end]), 2.1.3.1.
template <typename Mth>
void append_path(std::size_t m, std::size_t begin, std::size_t end, const Mth& mth,
                 std::vector<std::string>& out) {
  const std::size_t n = end - begin;
  if (n == 1) return;
  const std::size_t k = split_point(n);
  if (m < k) {
    append_path(m, begin, begin + k, mth, out);
    out.push_back(mth(begin + k, end));
  } else {
    append_path(m - k, begin + k, end, mth, out);
    out.push_back(mth(begin, begin + k));
  }
}

// SUBPROOF(m, D[begin:end], b), 2.1.4.1. `b` says whether D[begin:begin+m] is the old tree
// itself, whose root the verifier already has (so it is left out).
template <typename Mth>
void append_subproof(std::size_t m, std::size_t begin, std::size_t end, bool b, const Mth& mth,
                     std::vector<std::string>& out) {
  const std::size_t n = end - begin;
  if (m == n) {
    if (!b) out.push_back(mth(begin, end));
    return;
  }
  const std::size_t k = split_point(n);
  if (m <= k) {
    append_subproof(m, begin, begin + k, b, mth, out);
    out.push_back(mth(begin + k, end));
  } else {
    append_subproof(m - k, begin + k, end, false, mth, out);
    out.push_back(mth(begin, begin + k));
  }
}

// MTH(D[begin:end]) straight from the definition, begin < end: O(end - begin) node hashes.
std::string vector_mth(const std::vector<std::string>& leaves, std::size_t begin, std::size_t end) {
  if (end - begin == 1) return leaves[begin];
  const std::size_t k = split_point(end - begin);
  return node_hash(vector_mth(leaves, begin, begin + k), vector_mth(leaves, begin + k, end));
}

bool all_hashes(const std::vector<std::string>& proof) {
  return std::all_of(proof.begin(), proof.end(),
                     [](const std::string& h) { return h.size() == kMerkleHashSize; });
}

}  // namespace

std::string merkle_leaf_hash(std::string_view leaf_data) {
  util::Sha256 h;
  const char prefix = 0x00;
  h.update(&prefix, 1);
  h.update(leaf_data);
  return h.digest();
}

std::string merkle_node_hash(std::string_view left, std::string_view right) {
  check_hash(left, "the left node hash");
  check_hash(right, "the right node hash");
  return node_hash(left, right);
}

std::string merkle_root(const std::vector<std::string>& leaf_hashes) {
  check_leaf_hashes(leaf_hashes);
  if (leaf_hashes.empty()) return empty_root();
  return vector_mth(leaf_hashes, 0, leaf_hashes.size());
}

std::vector<std::string> inclusion_proof(const std::vector<std::string>& leaf_hashes,
                                         std::size_t index) {
  check_leaf_hashes(leaf_hashes);
  if (index >= leaf_hashes.size())
    throw Error("merkle: no inclusion proof for leaf " + std::to_string(index) + " of a tree of " +
                std::to_string(leaf_hashes.size()) + " leaves");
  std::vector<std::string> proof;
  append_path(
      index, 0, leaf_hashes.size(),
      [&](std::size_t b, std::size_t e) { return vector_mth(leaf_hashes, b, e); }, proof);
  return proof;
}

std::vector<std::string> consistency_proof(const std::vector<std::string>& leaf_hashes,
                                           std::size_t old_size) {
  check_leaf_hashes(leaf_hashes);
  if (old_size == 0 || old_size > leaf_hashes.size())
    throw Error("merkle: no consistency proof from a tree of " + std::to_string(old_size) +
                " leaves to one of " + std::to_string(leaf_hashes.size()) +
                " (the old size must be 1 to the new size)");
  std::vector<std::string> proof;
  append_subproof(
      old_size, 0, leaf_hashes.size(), true,
      [&](std::size_t b, std::size_t e) { return vector_mth(leaf_hashes, b, e); }, proof);
  return proof;
}

bool verify_inclusion(std::string_view leaf_hash, std::size_t index, std::size_t tree_size,
                      const std::vector<std::string>& proof, std::string_view root) {
  if (index >= tree_size || leaf_hash.size() != kMerkleHashSize || root.size() != kMerkleHashSize ||
      !all_hashes(proof))
    return false;
  // The RFC's fn walks the leaf's position up the tree and sn the last leaf's: where they meet
  // on the right edge a lone node is promoted without a hash, which is what the inner shift
  // skips. The proof has exactly one node per level at which the leaf has a sibling.
  std::size_t fn = index;
  std::size_t sn = tree_size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) return false;  // too long
    if ((fn & 1) != 0 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;  // sn != 0: too short
}

bool verify_consistency(std::size_t old_size, std::size_t new_size, std::string_view old_root,
                        std::string_view new_root, const std::vector<std::string>& proof) {
  if (old_size == 0 || old_size > new_size || old_root.size() != kMerkleHashSize ||
      new_root.size() != kMerkleHashSize || !all_hashes(proof))
    return false;
  // Equal sizes are outside the RFC's algorithm (which fails an empty proof): the same tree.
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  // The old root is the first node of the path when the old tree is a complete subtree of the
  // new one, so the generator leaves it out; put it back.
  std::vector<std::string_view> path;
  path.reserve(proof.size() + 1);
  if (is_power_of_two(old_size)) path.push_back(old_root);
  for (const std::string& c : proof) path.push_back(c);

  std::size_t fn = old_size - 1;
  std::size_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  // fr rebuilds the old root, sr the new one, from the same nodes.
  std::string fr(path[0]);
  std::string sr(path[0]);
  for (std::size_t i = 1; i < path.size(); ++i) {
    const std::string_view c = path[i];
    if (sn == 0) return false;  // too long
    if ((fn & 1) != 0 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

MerkleTree::MerkleTree(const std::vector<std::string>& leaf_hashes) {
  check_leaf_hashes(leaf_hashes);
  for (const auto& h : leaf_hashes) append(h);
}

void MerkleTree::append(std::string_view leaf_hash) {
  check_hash(leaf_hash, "a leaf hash");
  if (levels_.empty()) levels_.emplace_back();
  Hash h;
  std::memcpy(h.data(), leaf_hash.data(), h.size());
  levels_[0].push_back(h);
  // Each time a level's count becomes even its last two entries complete a subtree one level up
  // (carrying as in binary addition): amortised one node hash per leaf.
  for (std::size_t j = 0; levels_[j].size() % 2 == 0; ++j) {
    if (j + 1 == levels_.size()) levels_.emplace_back();
    const Hash& l = levels_[j][levels_[j].size() - 2];
    const Hash& r = levels_[j].back();
    const std::string parent =
        node_hash(std::string_view(l.data(), l.size()), std::string_view(r.data(), r.size()));
    Hash p;
    std::memcpy(p.data(), parent.data(), p.size());
    levels_[j + 1].push_back(p);
  }
}

std::string MerkleTree::leaf_hash(std::size_t index) const {
  if (index >= size())
    throw Error("merkle: no leaf " + std::to_string(index) + " in a tree of " +
                std::to_string(size()) + " leaves");
  const Hash& h = levels_[0][index];
  return std::string(h.data(), h.size());
}

std::string MerkleTree::subtree_hash(std::size_t begin, std::size_t end) const {
  const std::size_t n = end - begin;
  if (is_power_of_two(n) && begin % n == 0) {
    std::size_t j = 0;
    while ((std::size_t{1} << j) < n) ++j;
    const Hash& h = levels_[j][begin >> j];
    return std::string(h.data(), h.size());
  }
  // Only the ragged right edge gets here; with `begin` aligned (as every range the RFC's
  // recursion asks for is) the left half is a lookup, so this is O(log n).
  const std::size_t k = split_point(n);
  return node_hash(subtree_hash(begin, begin + k), subtree_hash(begin + k, end));
}

std::string MerkleTree::root_at(std::size_t tree_size) const {
  if (tree_size > size())
    throw Error("merkle: no root for a tree of " + std::to_string(tree_size) + " leaves; it has " +
                std::to_string(size()));
  if (tree_size == 0) return empty_root();
  return subtree_hash(0, tree_size);
}

std::vector<std::string> MerkleTree::inclusion_proof(std::size_t index,
                                                     std::size_t tree_size) const {
  if (tree_size > size() || index >= tree_size)
    throw Error("merkle: no inclusion proof for leaf " + std::to_string(index) + " of a tree of " +
                std::to_string(tree_size) + " leaves (it has " + std::to_string(size()) + ")");
  std::vector<std::string> proof;
  append_path(
      index, 0, tree_size, [this](std::size_t b, std::size_t e) { return subtree_hash(b, e); },
      proof);
  return proof;
}

std::vector<std::string> MerkleTree::consistency_proof(std::size_t old_size,
                                                       std::size_t new_size) const {
  if (old_size == 0 || old_size > new_size || new_size > size())
    throw Error("merkle: no consistency proof from a tree of " + std::to_string(old_size) +
                " leaves to one of " + std::to_string(new_size) + " (it has " +
                std::to_string(size()) + "; need 0 < old size <= new size <= that)");
  std::vector<std::string> proof;
  append_subproof(
      old_size, 0, new_size, true,
      [this](std::size_t b, std::size_t e) { return subtree_hash(b, e); }, proof);
  return proof;
}

}  // namespace tdml::ledger
