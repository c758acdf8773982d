#!/usr/bin/env python3
"""Open a ZEGOCLOUD token04 (AES-CBC form) with the server secret and print its plaintext.

    python3 zego_decrypt.py SERVER_SECRET TOKEN
    python3 zego_decrypt.py SERVER_SECRET - < token.txt

Uses PyPI `pycryptodome` (checked with 4.4.0). Layout: "04" + base64(i64be expire |
u16be iv_len | iv | u16be ct_len | ciphertext); key = the 32 ASCII bytes of the secret;
AES-256-CBC with PKCS#7 padding. Checks the framing, the padding, that the plaintext is a JSON
object with app_id, user_id, nonce, ctime, expire and payload (a string), and that its expire
equals the one in the clear header. Does NOT check the clock.

On success prints the decrypted plaintext exactly as decrypted (UTF-8 JSON, one line) and
exits 0; on failure prints the reason to stderr and exits 1. Exit 2: bad usage or the library
is missing.
"""

import base64
import binascii
import json
import struct
import sys

REQUIRED = {"app_id": int, "user_id": str, "nonce": int, "ctime": int, "expire": int, "payload": str}


class Rejected(Exception):
    pass


def open_token(secret: str, token: str) -> str:
    from Crypto.Cipher import AES
    from Crypto.Util.Padding import unpad

    key = secret.encode("utf-8")
    if len(key) != 32:
        raise Rejected(f"secret must be 32 bytes, got {len(key)}")
    if not token.startswith("04"):
        raise Rejected("not a token04 (missing '04' prefix)")
    try:
        raw = base64.b64decode(token[2:], validate=True)
    except (binascii.Error, ValueError) as e:
        raise Rejected(f"bad base64: {e}")
    if len(raw) < 12:
        raise Rejected("too short")
    (expire,) = struct.unpack(">q", raw[:8])
    (iv_len,) = struct.unpack(">H", raw[8:10])
    iv = raw[10 : 10 + iv_len]
    if iv_len != 16 or len(iv) != 16:
        raise Rejected(f"iv length {iv_len}, expected 16")
    pos = 10 + iv_len
    if len(raw) < pos + 2:
        raise Rejected("truncated before ciphertext length")
    (ct_len,) = struct.unpack(">H", raw[pos : pos + 2])
    ct = raw[pos + 2 :]
    if len(ct) != ct_len or ct_len == 0 or ct_len % 16:
        raise Rejected(f"ciphertext length {len(ct)} (header says {ct_len})")
    try:
        plain = unpad(AES.new(key, AES.MODE_CBC, iv).decrypt(ct), 16, style="pkcs7")
        text = plain.decode("utf-8")
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise Rejected(f"does not decrypt to JSON with this secret: {e}")
    if not isinstance(doc, dict):
        raise Rejected("plaintext is not a JSON object")
    for name, kind in REQUIRED.items():
        if not isinstance(doc.get(name), kind) or isinstance(doc.get(name), bool):
            raise Rejected(f"field {name!r} missing or not {kind.__name__}")
    if doc["expire"] != expire:
        raise Rejected(f"expire {doc['expire']} differs from the header's {expire}")
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    secret, token = argv[1], argv[2]
    if token == "-":
        token = sys.stdin.read().strip()
    try:
        import Crypto.Cipher.AES  # noqa: F401
    except ImportError as e:  # pragma: no cover
        print(f"pycryptodome is not installed: {e}", file=sys.stderr)
        return 2
    try:
        text = open_token(secret, token)
    except Rejected as e:
        print(f"rejected: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
