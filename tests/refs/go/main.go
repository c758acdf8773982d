// Command lkverify checks LiveKit tokens with the server's own verifier,
// github.com/livekit/protocol/auth (the code livekit-server runs on every request).
//
// It reads one JSON object per line on stdin, {"token": "...", "secret": "..."}, and writes one
// JSON object per line on stdout:
//
//	{"ok": true, "api_key": "...", "not_before": 1700000000, "expires": 1700003600, "grants": {...}}
//	{"ok": false, "error": "..."}
//
// where grants is the verifier's ClaimGrants (identity, name, metadata, video grant) as JSON.
// The end-to-end suite (tests/e2e/livekit_real.test.mjs) feeds it tokens rtcgate minted.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/livekit/protocol/auth"
)

type request struct {
	Token  string `json:"token"`
	Secret string `json:"secret"`
}

type result struct {
	OK        bool              `json:"ok"`
	Error     string            `json:"error,omitempty"`
	APIKey    string            `json:"api_key,omitempty"`
	NotBefore int64             `json:"not_before,omitempty"`
	Expires   int64             `json:"expires,omitempty"`
	Grants    *auth.ClaimGrants `json:"grants,omitempty"`
}

func verify(req request) result {
	v, err := auth.ParseAPIToken(req.Token)
	if err != nil {
		return result{Error: "parse: " + err.Error()}
	}
	claims, grants, err := v.Verify(req.Secret)
	if err != nil {
		return result{Error: "verify: " + err.Error()}
	}
	out := result{OK: true, APIKey: v.APIKey(), Grants: grants}
	if claims.NotBefore != nil {
		out.NotBefore = claims.NotBefore.Unix()
	}
	if claims.ExpiresAt != nil {
		out.Expires = claims.ExpiresAt.Unix()
	}
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		res := result{}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			res.Error = "request: " + err.Error()
		} else {
			res = verify(req)
		}
		if err := out.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
