"""Signed checkpoints: what is signed, byte for byte, and how it is signed and checked. Pure (no I/O).

The signed message is a C2SP signed-note style text body, UTF-8, each line ending in a newline:

    sizhong-audit\\n                     origin (fixed)
    <tree size, decimal>\\n
    <root hash, standard base64 with padding, 44 characters>\\n
    <time, RFC 3339 UTC with microseconds, e.g. 2026-03-02T01:00:00.000000Z>\\n

The signature is Ed25519 (RFC 8032) over exactly those bytes, given as standard base64. A key is named by its
key id: the first 4 bytes of SHA-256 over the 32-byte raw public key, as 8 hex digits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ORIGIN = "sizhong-audit"
SEED_BYTES = 32


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("checkpoint times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_body(tree_size: int, root_hash: bytes, timestamp: str) -> bytes:
    """The exact bytes a checkpoint's signature covers (see the module docstring)."""
    if tree_size < 0 or len(root_hash) != 32 or "\n" in timestamp:
        raise ValueError("malformed checkpoint")
    return f"{ORIGIN}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n{timestamp}\n".encode()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).digest()[:4].hex()


def decode_seed(text: str) -> bytes:
    """A base64 32-byte Ed25519 seed (the AUDIT_SIGNING_KEY format); ValueError otherwise."""
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc
    if len(seed) != SEED_BYTES:
        raise ValueError(f"must decode to {SEED_BYTES} bytes, not {len(seed)}")
    return seed


def decode_public_key(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key given as base64, or as a PEM SubjectPublicKeyInfo."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        loaded = serialization.load_pem_public_key(text.encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True)
class SignedCheckpoint:
    tree_size: int
    root_hash: bytes
    timestamp: str
    signature: bytes
    key_id: str

    @property
    def body(self) -> bytes:
        return checkpoint_body(self.tree_size, self.root_hash, self.timestamp)


class CheckpointSigner:
    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate_seed(cls) -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())

    @property
    def public_key_pem(self) -> str:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, tree_size: int, root_hash: bytes, moment: datetime) -> SignedCheckpoint:
        timestamp = format_time(moment)
        signature = self._key.sign(checkpoint_body(tree_size, root_hash, timestamp))
        return SignedCheckpoint(tree_size, root_hash, timestamp, signature, self.key_id)


def verify_signature(public_key: bytes, tree_size: int, root_hash: bytes, timestamp: str, signature: bytes) -> bool:
    try:
        body = checkpoint_body(tree_size, root_hash, timestamp)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, body)
    except (InvalidSignature, ValueError):
        return False
    return True
