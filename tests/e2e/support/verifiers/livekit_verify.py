#!/usr/bin/env python3
"""Verify a LiveKit access token with LiveKit's own Python library and print its claims.

    python3 livekit_verify.py API_KEY API_SECRET TOKEN
    python3 livekit_verify.py API_KEY API_SECRET - < token.txt

Uses PyPI `livekit-api` (checked with 1.2.2): `api.TokenVerifier(key, secret).verify(token)`,
the verifier closest to livekit-server (HS256 only, `exp` required, `iss` must equal the key,
60 s clock leeway, checked against the CURRENT clock). On success prints the claims as one
line of JSON (livekit-api's own view: camelCase keys, empty/None fields left out, tri-state
grants filled with their defaults) and exits 0; on failure prints the reason to stderr and
exits 1. Exit 2 means bad usage or the library is missing.
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    key, secret, token = argv[1], argv[2], argv[3]
    if token == "-":
        token = sys.stdin.read().strip()
    try:
        from livekit import api
    except ImportError as e:  # pragma: no cover - environment problem, not a token problem
        print(f"livekit-api is not installed: {e}", file=sys.stderr)
        return 2
    try:
        claims = api.TokenVerifier(key, secret).verify(token)
    except Exception as e:  # any rejection: bad signature, expired, wrong issuer, malformed
        print(f"rejected: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims.asdict(), sort_keys=True, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
