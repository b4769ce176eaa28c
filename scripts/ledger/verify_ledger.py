#!/usr/bin/env python3
"""Independent check of a tdml ledger in Python (hashlib + the `cryptography` package).

Re-derives every block hash from canonical JSON, follows the chain, recomputes the Merkle
root (RFC 9162: leaf = SHA-256(0x00 || line), node = SHA-256(0x01 || left || right)) that the
signed tree head commits to, and checks the server's and clients' Ed25519 signatures against a
public key manifest, without any tdml code (docs/ledger.md has the format).
Usage: verify_ledger.py LEDGER KEYS_DIR   (exit 0 and "ok N blocks" when all holds)
"""
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def merkle_root(leaves):
    """MTH of RFC 9162 2.1.1 over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def model_hash(state_dict):
    """The model hash (encoding v2, docs/ledger.md) of a dict of torch tensors, in its order.
    For an FL block's model_before/model_after, pass only the floating-point entries."""
    import struct
    u64 = lambda v: struct.pack("<Q", v)
    h = hashlib.sha256(b"tdml.model.v2\n" + u64(len(state_dict)))
    for name, t in state_dict.items():
        raw = t.detach().cpu().contiguous().numpy().tobytes()
        for s in (name.encode(), str(t.dtype).removeprefix("torch.").encode()):
            h.update(u64(len(s)) + s)
        h.update(u64(t.dim()) + b"".join(u64(d) for d in t.shape) + u64(len(raw)) + raw)
    return h.hexdigest()


def main(ledger_path, keys_dir):
    manifest = json.load(open(os.path.join(keys_dir, "keys.json")))
    if manifest["scheme"] != "ed25519":
        sys.exit("only ed25519 ledgers can be checked with public keys")
    keys = {k["id"]: Ed25519PublicKey.from_public_bytes(bytes.fromhex(k["public"]))
            for k in manifest["keys"]}

    def valid(key_id, message, sig_hex):
        try:
            keys[key_id].verify(bytes.fromhex(sig_hex), message.encode())
            return True
        except (InvalidSignature, ValueError, KeyError):
            return False

    def check(key_id, message, sig_hex, what):
        if not valid(key_id, message, sig_hex):
            sys.exit(f"{what}: bad signature by {key_id}")

    prev = "0" * 64
    last_model_after = None  # FL rounds: model_before must be the previous round's model_after
    data = open(ledger_path, "rb").read().decode("ascii")
    if data and not data.endswith("\n"):
        sys.exit("torn last line")
    lines = data.splitlines()
    for i, line in enumerate(lines):
        block = json.loads(line)
        if canonical(block) != line:
            sys.exit(f"block {i}: not canonical")
        body = {k: v for k, v in block.items() if k not in ("hash", "server_sig")}
        if hashlib.sha256(canonical(body).encode()).hexdigest() != block["hash"]:
            sys.exit(f"block {i}: hash mismatch")
        if block["index"] != i or block["prev_hash"] != prev:
            sys.exit(f"block {i}: chain broken")
        check("server", "tdml.block.v1:" + block["hash"], block["server_sig"], f"block {i}")
        if block.get("kind") == "fl_round":
            if last_model_after is not None and block["model_before"] != last_model_after:
                sys.exit(f"block {i}: model_before is not the previous round's model_after")
            last_model_after = block["model_after"]
        if "sampled" in block and sorted(block["sampled"]) != sorted(c["id"] for c in block["clients"]):
            sys.exit(f"block {i}: not one entry per sampled client")
        for c in block.get("clients", []):
            if c["status"] in ("late", "dropped"):
                continue
            claim = {"base_model": block["model_before"], "client": c["id"],
                     "round": block["round"], "samples": c["samples"], "update": c["update_hash"]}
            tag = "tdml.update.v1:"
            if block.get("run_id"):
                claim["run"], tag = block["run_id"], "tdml.update.v2:"
            if c["status"] == "refused":  # the evidence must really fail
                if valid(c["id"], tag + canonical(claim), c["signature"]):
                    sys.exit(f"block {i}: {c['id']} refused with a valid signature")
                continue
            check(c["id"], tag + canonical(claim), c["signature"], f"block {i}")
        prev = block["hash"]
    head_path = ledger_path[:-len(".jsonl")] + ".head" if ledger_path.endswith(".jsonl") \
        else ledger_path + ".head"
    head = json.load(open(head_path))
    signed = {k: v for k, v in head.items() if k != "sig"}
    check("server", "tdml.head.v2:" + canonical(signed), head["sig"], "head")
    if head["size"] != len(lines) or head["index"] != len(lines) - 1 or head["hash"] != prev:
        sys.exit("head does not name the last block")
    leaves = [hashlib.sha256(b"\x00" + line.encode()).digest() for line in lines]
    if merkle_root(leaves).hex() != head["root"]:
        sys.exit("head's Merkle root does not match the blocks")
    print(f"ok {len(lines)} blocks")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
