// The RFC 9162 Merkle tree: known answers (the Certificate Transparency test vectors), every
// proof of every tree up to 64 leaves against a reference written straight from the RFC's
// recursive definitions, every mutation of a proof failing, and a 100000-leaf tree.
#include "tdml/ledger/merkle.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "tdml/util/error.h"
#include "tdml/util/sha256.h"

using tdml::ledger::MerkleTree;

namespace {

constexpr std::size_t kMerkleMaxSmall = 64;

std::string merkle_sha(const std::string& bytes) {
  tdml::util::Sha256 h;
  h.update(bytes);
  return h.digest();
}

// The reference: RFC 9162 2.1 written out directly, sharing no code with the module.
std::string merkle_ref_node(const std::string& l, const std::string& r) {
  return merkle_sha(std::string(1, '\x01') + l + r);
}

std::size_t merkle_ref_k(std::size_t n) {
  std::size_t k = 1;
  while (2 * k < n) k *= 2;
  return k;
}

std::vector<std::string> merkle_slice(const std::vector<std::string>& v, std::size_t b,
                                      std::size_t e) {
  return std::vector<std::string>(v.begin() + b, v.begin() + e);
}

std::string merkle_ref_mth(const std::vector<std::string>& d) {
  if (d.empty()) return merkle_sha("");
  if (d.size() == 1) return d[0];
  const std::size_t k = merkle_ref_k(d.size());
  return merkle_ref_node(merkle_ref_mth(merkle_slice(d, 0, k)),
                         merkle_ref_mth(merkle_slice(d, k, d.size())));
}

std::vector<std::string> merkle_ref_path(std::size_t m, const std::vector<std::string>& d) {
  if (d.size() <= 1) return {};
  const std::size_t k = merkle_ref_k(d.size());
  std::vector<std::string> out;
  if (m < k) {
    out = merkle_ref_path(m, merkle_slice(d, 0, k));
    out.push_back(merkle_ref_mth(merkle_slice(d, k, d.size())));
  } else {
    out = merkle_ref_path(m - k, merkle_slice(d, k, d.size()));
    out.push_back(merkle_ref_mth(merkle_slice(d, 0, k)));
  }
  return out;
}

// The length of PATH(m, D[n]) without hashing anything.
std::size_t merkle_ref_path_length(std::size_t m, std::size_t n) {
  if (n <= 1) return 0;
  const std::size_t k = merkle_ref_k(n);
  return 1 + (m < k ? merkle_ref_path_length(m, k) : merkle_ref_path_length(m - k, n - k));
}

std::vector<std::string> merkle_ref_subproof(std::size_t m, const std::vector<std::string>& d,
                                             bool b) {
  if (m == d.size()) return b ? std::vector<std::string>{} : std::vector{merkle_ref_mth(d)};
  const std::size_t k = merkle_ref_k(d.size());
  std::vector<std::string> out;
  if (m <= k) {
    out = merkle_ref_subproof(m, merkle_slice(d, 0, k), b);
    out.push_back(merkle_ref_mth(merkle_slice(d, k, d.size())));
  } else {
    out = merkle_ref_subproof(m - k, merkle_slice(d, k, d.size()), false);
    out.push_back(merkle_ref_mth(merkle_slice(d, 0, k)));
  }
  return out;
}

// Leaf hashes of the records "leaf-0", "leaf-1", ...
std::vector<std::string> merkle_leaves(std::size_t n) {
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(tdml::ledger::merkle_leaf_hash("leaf-" + std::to_string(i)));
  return out;
}

// The leaves of the Certificate Transparency test vectors (RFC 6962 reference code).
std::vector<std::string> merkle_ct_leaves() {
  const std::vector<std::string> data = {
      std::string(),
      std::string(1, '\x00'),
      "\x10",
      "\x20\x21",
      "\x30\x31",
      "\x40\x41\x42\x43",
      "\x50\x51\x52\x53\x54\x55\x56\x57",
      "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
  std::vector<std::string> out;
  for (const auto& d : data) out.push_back(tdml::ledger::merkle_leaf_hash(d));
  return out;
}

std::string merkle_flip_bit(std::string h, std::size_t bit) {
  h[(bit / 8) % h.size()] = static_cast<char>(h[(bit / 8) % h.size()] ^ (1 << (bit % 8)));
  return h;
}

std::vector<std::string> merkle_hexes(const std::vector<std::string>& hashes) {
  std::vector<std::string> out;
  for (const auto& h : hashes) out.push_back(tdml::util::to_hex(h));
  return out;
}

// merkle_root of every prefix of `leaves`, 0 to leaves.size().
std::vector<std::string> merkle_prefix_roots(const std::vector<std::string>& leaves) {
  std::vector<std::string> roots;
  for (std::size_t n = 0; n <= leaves.size(); ++n)
    roots.push_back(tdml::ledger::merkle_root(merkle_slice(leaves, 0, n)));
  return roots;
}

}  // namespace

TEST(Merkle, LeafAndNodeHashesAreDomainSeparated) {
  using tdml::ledger::merkle_leaf_hash;
  using tdml::ledger::merkle_node_hash;
  EXPECT_EQ(merkle_leaf_hash("abc"), merkle_sha(std::string("\x00", 1) + "abc"));
  const std::string a = merkle_leaf_hash("a"), b = merkle_leaf_hash("b");
  EXPECT_EQ(merkle_node_hash(a, b), merkle_sha("\x01" + a + b));
  EXPECT_NE(merkle_node_hash(a, b), merkle_node_hash(b, a));
  // A leaf whose data is two hashes is not the node over them.
  EXPECT_NE(merkle_leaf_hash(a + b), merkle_node_hash(a, b));
  EXPECT_THROW(merkle_node_hash(tdml::util::to_hex(a), b), tdml::Error);  // hex, not raw
  EXPECT_THROW(merkle_node_hash(a, ""), tdml::Error);
}

TEST(Merkle, KnownAnswerRoots) {
  using tdml::ledger::merkle_root;
  EXPECT_EQ(tdml::util::to_hex(merkle_root({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");  // SHA-256("")
  EXPECT_EQ(merkle_root({merkle_leaves(1)[0]}), merkle_leaves(1)[0]);
  EXPECT_EQ(MerkleTree().root(), merkle_root({}));
  // The roots of the Certificate Transparency test vectors; the same values come from
  // /usr/bin/python3 with hashlib and the RFC's recursive MTH (leaf = sha256(b'\0' + d),
  // node = sha256(b'\1' + l + r)).
  const std::vector<std::string> expected = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  const auto leaves = merkle_ct_leaves();
  MerkleTree tree;
  for (std::size_t n = 1; n <= leaves.size(); ++n) {
    tree.append(leaves[n - 1]);
    EXPECT_EQ(tdml::util::to_hex(merkle_root(merkle_slice(leaves, 0, n))), expected[n - 1]) << n;
    EXPECT_EQ(tdml::util::to_hex(tree.root()), expected[n - 1]) << n;
  }
}

TEST(Merkle, KnownAnswerProofs) {
  using tdml::ledger::consistency_proof;
  using tdml::ledger::inclusion_proof;
  using V = std::vector<std::string>;
  // Certificate Transparency test vectors (also produced by /usr/bin/python3 from the RFC's
  // PATH and SUBPROOF, hashlib as in KnownAnswerRoots).
  const auto leaves = merkle_ct_leaves();
  EXPECT_EQ(merkle_hexes(inclusion_proof(leaves, 2)),
            (V{"07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
               "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(merkle_hexes(inclusion_proof(merkle_slice(leaves, 0, 7), 5)),
            (V{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
               "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_EQ(merkle_hexes(consistency_proof(leaves, 1)),
            (V{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(merkle_hexes(consistency_proof(leaves, 6)),
            (V{"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_EQ(merkle_hexes(consistency_proof(merkle_slice(leaves, 0, 5), 2)),
            (V{"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}));
  EXPECT_TRUE(consistency_proof(leaves, 8).empty());
}

TEST(Merkle, RootMatchesTheRecursiveDefinition) {
  const auto leaves = merkle_leaves(kMerkleMaxSmall + 1);
  for (std::size_t n = 0; n <= leaves.size(); ++n) {
    const auto d = merkle_slice(leaves, 0, n);
    EXPECT_EQ(tdml::ledger::merkle_root(d), merkle_ref_mth(d)) << n;
  }
}

TEST(Merkle, EveryInclusionProofOfSmallTreesVerifies) {
  const auto leaves = merkle_leaves(kMerkleMaxSmall);
  const auto roots = merkle_prefix_roots(leaves);
  for (std::size_t n = 1; n <= kMerkleMaxSmall; ++n) {
    const auto d = merkle_slice(leaves, 0, n);
    std::size_t height = 0;
    while ((std::size_t{1} << height) < n) ++height;
    for (std::size_t i = 0; i < n; ++i) {
      const auto proof = tdml::ledger::inclusion_proof(d, i);
      ASSERT_EQ(proof, merkle_ref_path(i, d)) << "n=" << n << " i=" << i;
      EXPECT_LE(proof.size(), height);
      EXPECT_TRUE(tdml::ledger::verify_inclusion(leaves[i], i, n, proof, roots[n]))
          << "n=" << n << " i=" << i;
    }
  }
}

TEST(Merkle, EveryMutatedInclusionProofFails) {
  using tdml::ledger::verify_inclusion;
  const auto leaves = merkle_leaves(kMerkleMaxSmall + 1);
  const auto roots = merkle_prefix_roots(leaves);
  for (std::size_t n = 1; n <= kMerkleMaxSmall; ++n) {
    const auto d = merkle_slice(leaves, 0, n);
    for (std::size_t i = 0; i < n; ++i) {
      SCOPED_TRACE("n=" + std::to_string(n) + " i=" + std::to_string(i));
      const auto proof = tdml::ledger::inclusion_proof(d, i);
      const std::string& leaf = leaves[i];
      const std::string& root = roots[n];
      for (std::size_t j = 0; j < proof.size(); ++j) {
        auto bad = proof;
        bad[j] = merkle_flip_bit(bad[j], 37 * j + i);
        EXPECT_FALSE(verify_inclusion(leaf, i, n, bad, root)) << "flipped node " << j;
        bad = proof;
        bad.erase(bad.begin() + j);
        EXPECT_FALSE(verify_inclusion(leaf, i, n, bad, root)) << "removed node " << j;
      }
      if (i + 1 < n) {
        EXPECT_FALSE(verify_inclusion(leaf, i + 1, n, proof, root));
      }
      if (i > 0) {
        EXPECT_FALSE(verify_inclusion(leaf, i - 1, n, proof, root));
      }
      // A wrong size fails against the root of that size. (Against this root it may pass: the
      // size is bound only through the root, e.g. leaf 0 of 5 and of 6 take the same path
      // shape. It always fails when the path for that size has another length.)
      EXPECT_FALSE(verify_inclusion(leaf, i, n + 1, proof, roots[n + 1]));
      if (merkle_ref_path_length(i, n + 1) != proof.size()) {
        EXPECT_FALSE(verify_inclusion(leaf, i, n + 1, proof, root));
      }
      EXPECT_FALSE(verify_inclusion(leaf, i, n - 1, proof, roots[n - 1]));
      if (i < n - 1) {
        if (merkle_ref_path_length(i, n - 1) != proof.size()) {
          EXPECT_FALSE(verify_inclusion(leaf, i, n - 1, proof, root));
        }
      }
      auto longer = proof;
      longer.push_back(leaves[0]);
      EXPECT_FALSE(verify_inclusion(leaf, i, n, longer, root));
      longer = proof;
      longer.insert(longer.begin(), leaf);
      EXPECT_FALSE(verify_inclusion(leaf, i, n, longer, root));
      if (!proof.empty()) {
        EXPECT_FALSE(verify_inclusion(leaf, i, n, {}, root));
      }
      EXPECT_FALSE(verify_inclusion(leaf, i, n, proof, merkle_flip_bit(root, i)));
      EXPECT_FALSE(verify_inclusion(leaf, i, n, proof, roots[n - 1]));
      EXPECT_FALSE(verify_inclusion(merkle_flip_bit(leaf, 3 * i), i, n, proof, root));
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion(leaves[(i + 1) % n], i, n, proof, root));
      }
      // The record itself rather than its leaf hash.
      EXPECT_FALSE(verify_inclusion("leaf-" + std::to_string(i), i, n, proof, root));
    }
  }
}

TEST(Merkle, EveryConsistencyProofOfSmallTreesVerifies) {
  const auto leaves = merkle_leaves(kMerkleMaxSmall);
  const auto roots = merkle_prefix_roots(leaves);
  for (std::size_t n = 1; n <= kMerkleMaxSmall; ++n) {
    const auto d = merkle_slice(leaves, 0, n);
    for (std::size_t m = 1; m <= n; ++m) {
      const auto proof = tdml::ledger::consistency_proof(d, m);
      ASSERT_EQ(proof, merkle_ref_subproof(m, d, true)) << "m=" << m << " n=" << n;
      EXPECT_EQ(proof.empty(), m == n);
      EXPECT_TRUE(tdml::ledger::verify_consistency(m, n, roots[m], roots[n], proof))
          << "m=" << m << " n=" << n;
    }
  }
}

TEST(Merkle, EveryMutatedConsistencyProofFails) {
  using tdml::ledger::verify_consistency;
  const auto leaves = merkle_leaves(kMerkleMaxSmall + 1);
  const auto roots = merkle_prefix_roots(leaves);
  for (std::size_t n = 2; n <= kMerkleMaxSmall; ++n) {
    const auto d = merkle_slice(leaves, 0, n);
    for (std::size_t m = 1; m < n; ++m) {
      SCOPED_TRACE("m=" + std::to_string(m) + " n=" + std::to_string(n));
      const auto proof = tdml::ledger::consistency_proof(d, m);
      const std::string& old_root = roots[m];
      const std::string& new_root = roots[n];
      for (std::size_t j = 0; j < proof.size(); ++j) {
        auto bad = proof;
        bad[j] = merkle_flip_bit(bad[j], 41 * j + m + n);
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad)) << "flipped " << j;
        bad = proof;
        bad.erase(bad.begin() + j);
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad)) << "removed " << j;
      }
      // Wrong sizes, each against the root of the size claimed (as for inclusion, the sizes
      // are bound through the roots: 2 -> 3 and 2 -> 4 take the same path shape).
      EXPECT_FALSE(verify_consistency(m + 1, n, roots[m + 1], new_root, proof));
      if (m > 1) {
        EXPECT_FALSE(verify_consistency(m - 1, n, roots[m - 1], new_root, proof));
      }
      EXPECT_FALSE(verify_consistency(m, n + 1, old_root, roots[n + 1], proof));
      EXPECT_FALSE(verify_consistency(m, n - 1, old_root, roots[n - 1], proof));
      auto longer = proof;
      longer.push_back(leaves[0]);
      EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, longer));
      longer = proof;
      longer.insert(longer.begin(), old_root);
      EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, longer));
      EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, {}));
      EXPECT_FALSE(verify_consistency(m, n, new_root, old_root, proof));  // swapped
      EXPECT_FALSE(verify_consistency(m, n, merkle_flip_bit(old_root, m), new_root, proof));
      EXPECT_FALSE(verify_consistency(m, n, old_root, merkle_flip_bit(new_root, n), proof));
      // A rewritten old tree: leaf 0 changed (the new root unchanged cannot cover it).
      auto rewritten = merkle_slice(leaves, 0, m);
      rewritten[0] = merkle_flip_bit(rewritten[0], 0);
      EXPECT_FALSE(verify_consistency(m, n, tdml::ledger::merkle_root(rewritten), new_root, proof));
    }
  }
}

TEST(Merkle, MalformedInputsAreRejectedWithoutThrowing) {
  using tdml::ledger::verify_consistency;
  using tdml::ledger::verify_inclusion;
  const auto leaves = merkle_leaves(7);
  const auto root = tdml::ledger::merkle_root(leaves);
  const auto proof = tdml::ledger::inclusion_proof(leaves, 3);
  ASSERT_TRUE(verify_inclusion(leaves[3], 3, 7, proof, root));
  EXPECT_FALSE(verify_inclusion(leaves[3], 7, 7, proof, root));  // index == size
  EXPECT_FALSE(verify_inclusion(leaves[3], 3, 0, proof, root));
  EXPECT_FALSE(verify_inclusion(leaves[3], static_cast<std::size_t>(-1), 7, proof, root));
  EXPECT_FALSE(verify_inclusion(leaves[3].substr(1), 3, 7, proof, root));
  EXPECT_FALSE(verify_inclusion(leaves[3], 3, 7, proof, root.substr(1)));
  EXPECT_FALSE(verify_inclusion(leaves[3], 3, 7, proof, tdml::util::to_hex(root)));
  for (std::size_t j = 0; j < proof.size(); ++j) {
    auto bad = proof;
    bad[j].pop_back();
    EXPECT_FALSE(verify_inclusion(leaves[3], 3, 7, bad, root));
    bad = proof;
    bad[j].push_back('\0');
    EXPECT_FALSE(verify_inclusion(leaves[3], 3, 7, bad, root));
  }
  std::vector<std::string> huge(200, leaves[0]);  // longer than any tree could need
  EXPECT_FALSE(verify_inclusion(leaves[3], 3, 7, huge, root));
  EXPECT_FALSE(verify_inclusion(leaves[0], 0, 1, {}, leaves[1]));
  EXPECT_TRUE(verify_inclusion(leaves[0], 0, 1, {}, leaves[0]));

  const auto old_root = tdml::ledger::merkle_root(merkle_slice(leaves, 0, 3));
  const auto cproof = tdml::ledger::consistency_proof(leaves, 3);
  ASSERT_TRUE(verify_consistency(3, 7, old_root, root, cproof));
  EXPECT_FALSE(verify_consistency(0, 7, old_root, root, cproof));
  EXPECT_FALSE(verify_consistency(0, 0, old_root, old_root, {}));
  EXPECT_FALSE(verify_consistency(8, 7, old_root, root, cproof));
  EXPECT_FALSE(verify_consistency(3, 7, old_root.substr(1), root, cproof));
  EXPECT_FALSE(verify_consistency(3, 7, old_root, root + "x", cproof));
  EXPECT_FALSE(verify_consistency(3, 7, old_root, root, huge));
  for (std::size_t j = 0; j < cproof.size(); ++j) {
    auto bad = cproof;
    bad[j].pop_back();
    EXPECT_FALSE(verify_consistency(3, 7, old_root, root, bad));
  }
  // Equal sizes: the same tree, with nothing to prove.
  EXPECT_TRUE(verify_consistency(7, 7, root, root, {}));
  EXPECT_FALSE(verify_consistency(7, 7, root, root, {root}));
  EXPECT_FALSE(verify_consistency(7, 7, old_root, root, {}));
  EXPECT_FALSE(verify_consistency(7, 7, root.substr(1), root.substr(1), {}));
}

TEST(Merkle, GeneratorsRefuseBadArguments) {
  const auto leaves = merkle_leaves(5);
  EXPECT_THROW(tdml::ledger::inclusion_proof(leaves, 5), tdml::Error);
  EXPECT_THROW(tdml::ledger::inclusion_proof({}, 0), tdml::Error);
  EXPECT_THROW(tdml::ledger::consistency_proof(leaves, 0), tdml::Error);
  EXPECT_THROW(tdml::ledger::consistency_proof(leaves, 6), tdml::Error);
  auto hex_leaves = leaves;
  hex_leaves[2] = tdml::util::to_hex(hex_leaves[2]);
  EXPECT_THROW(tdml::ledger::merkle_root(hex_leaves), tdml::Error);
  EXPECT_THROW(tdml::ledger::inclusion_proof(hex_leaves, 0), tdml::Error);
  EXPECT_THROW(tdml::ledger::consistency_proof(hex_leaves, 1), tdml::Error);
  EXPECT_THROW(MerkleTree{hex_leaves}, tdml::Error);

  MerkleTree tree(leaves);
  EXPECT_THROW(tree.append("not a hash"), tdml::Error);
  EXPECT_EQ(tree.size(), 5u);
  EXPECT_THROW(tree.leaf_hash(5), tdml::Error);
  EXPECT_THROW(tree.root_at(6), tdml::Error);
  EXPECT_THROW(tree.inclusion_proof(3, 3), tdml::Error);
  EXPECT_THROW(tree.inclusion_proof(0, 6), tdml::Error);
  EXPECT_THROW(tree.consistency_proof(0, 5), tdml::Error);
  EXPECT_THROW(tree.consistency_proof(4, 3), tdml::Error);
  EXPECT_THROW(tree.consistency_proof(1, 6), tdml::Error);
  EXPECT_EQ(tree.leaf_hash(4), leaves[4]);
  EXPECT_EQ(tree.root_at(0), tdml::ledger::merkle_root({}));
}

TEST(Merkle, TreeMatchesTheVectorFunctionsAtEverySize) {
  const std::size_t total = kMerkleMaxSmall + 5;  // the head is not a power of two
  const auto leaves = merkle_leaves(total);
  const auto roots = merkle_prefix_roots(leaves);
  MerkleTree tree;
  for (std::size_t n = 1; n <= total; ++n) {
    tree.append(leaves[n - 1]);
    ASSERT_EQ(tree.size(), n);
    EXPECT_EQ(tree.root(), roots[n]) << n;
  }
  EXPECT_EQ(MerkleTree(leaves).root(), roots[total]);
  // Proofs against every older head, from the full tree.
  for (std::size_t s = 1; s <= total; ++s) {
    const auto d = merkle_slice(leaves, 0, s);
    EXPECT_EQ(tree.root_at(s), roots[s]) << s;
    for (std::size_t i = 0; i < s; ++i)
      ASSERT_EQ(tree.inclusion_proof(i, s), tdml::ledger::inclusion_proof(d, i))
          << "i=" << i << " size=" << s;
    for (std::size_t m = 1; m <= s; ++m)
      ASSERT_EQ(tree.consistency_proof(m, s), tdml::ledger::consistency_proof(d, m))
          << "m=" << m << " size=" << s;
  }
}

TEST(Merkle, LargeTreeProofsAreShortAndFast) {
  const std::size_t n = 100000;
  const auto leaves = merkle_leaves(n);
  MerkleTree tree;
  for (const auto& h : leaves) tree.append(h);
  const std::string root = tree.root();
  EXPECT_EQ(root, tdml::ledger::merkle_root(leaves));

  std::mt19937_64 rng(9162);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  for (int t = 0; t < 1000; ++t) {
    const std::size_t i = pick(rng);
    const auto proof = tree.inclusion_proof(i, n);
    ASSERT_LE(proof.size(), 17u) << i;  // ceil(log2(100000))
    ASSERT_TRUE(tdml::ledger::verify_inclusion(leaves[i], i, n, proof, root)) << i;
  }
  // An O(n) recomputation per proof would take ~10^5 hashes (tens of ms) each; O(log n) takes
  // tens of microseconds. The bound is 1 ms per proof, far above either noise or sanitizers.

  // Consistency with older heads, including a head older than the last append.
  for (int t = 0; t < 100; ++t) {
    const std::size_t b = pick(rng) + 1, a = std::uniform_int_distribution<std::size_t>(1, b)(rng);
    const auto proof = tree.consistency_proof(a, b);
    ASSERT_LE(proof.size(), 2 * 17u);
    ASSERT_TRUE(tdml::ledger::verify_consistency(a, b, tree.root_at(a), tree.root_at(b), proof))
        << a << " -> " << b;
  }
  const auto proof = tree.consistency_proof(n - 1, n);
  EXPECT_TRUE(tdml::ledger::verify_consistency(n - 1, n, tree.root_at(n - 1), root, proof));
}

// Documents a property of RFC 9162 that callers must respect: a proof does not pin the tree size
// by itself, only together with a root the caller trusts for that size (a signed head).
TEST(Merkle, SizesAreBoundOnlyThroughTheRoot) {
  const auto leaves = merkle_leaves(6);
  const auto five = merkle_slice(leaves, 0, 5);
  const auto proof = tdml::ledger::inclusion_proof(five, 0);
  EXPECT_TRUE(
      tdml::ledger::verify_inclusion(leaves[0], 0, 6, proof, tdml::ledger::merkle_root(five)));
  EXPECT_FALSE(
      tdml::ledger::verify_inclusion(leaves[0], 0, 6, proof, tdml::ledger::merkle_root(leaves)));
  const auto three = merkle_slice(leaves, 0, 3);
  const auto old_root = tdml::ledger::merkle_root(merkle_slice(leaves, 0, 2));
  const auto cproof = tdml::ledger::consistency_proof(three, 2);
  EXPECT_TRUE(
      tdml::ledger::verify_consistency(2, 4, old_root, tdml::ledger::merkle_root(three), cproof));
  EXPECT_FALSE(tdml::ledger::verify_consistency(
      2, 4, old_root, tdml::ledger::merkle_root(merkle_slice(leaves, 0, 4)), cproof));
}
