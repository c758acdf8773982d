//! Participant join tokens and LiveKit's rules for identities. No I/O: the JWT is signed
//! in-isolate by [`LiveKitSigner`].

use serde_json::{json, Value};

use super::token::{JoinClaims, LiveKitSigner};
use crate::domain::identity::IdentityRule;
use crate::domain::moderation::MediaSet;
use crate::error::ApiResult;
use crate::vendors::{JoinGrant, JoinToken};

/// LiveKit refuses a connection whose identity is empty or longer than
/// `limit.max_participant_identity_length` bytes, 256 by default (livekit/livekit
/// pkg/config/config.go `DefaultConfig`, checked in pkg/service/utils.go
/// `ValidateConnectRequest` with Go's byte length). LiveKit allows control characters; the
/// common rule refuses them (an identity is echoed into logs, URLs and client UIs).
pub const IDENTITY_RULE: IdentityRule = IdentityRule::Utf8 { vendor: super::NAME, max_bytes: 256 };

/// The JWT claims for `grant`. LiveKit enforces every grant flag itself, so none is refused.
pub fn claims(grant: &JoinGrant) -> JoinClaims<'_> {
    JoinClaims {
        identity: grant.identity.as_str(),
        name: grant.display_name.as_deref(),
        metadata: grant.metadata_json.as_deref(),
        room: &grant.room_id,
        ttl_s: u64::from(grant.ttl_s),
        can_publish: grant.can_publish,
        can_subscribe: grant.can_subscribe,
        can_publish_data: grant.effective_publish_data(),
        room_admin: grant.is_admin,
        can_publish_sources: publish_sources(grant.blocked_media),
    }
}

/// Every subset of LiveKit's publishable sources that a set of blocked media leaves, indexed by
/// the set's bits (1 audio = microphone, 2 video = camera, 4 screen = both screen-share
/// sources): the token grant's lowercase names (livekit/protocol `auth/grants.go`).
const SOURCES_LEFT: [&[&str]; 8] = [
    &["camera", "microphone", "screen_share", "screen_share_audio"],
    &["camera", "screen_share", "screen_share_audio"],
    &["microphone", "screen_share", "screen_share_audio"],
    &["screen_share", "screen_share_audio"],
    &["camera", "microphone"],
    &["camera"],
    &["microphone"],
    &[],
];

/// `canPublishSources` for `blocked`: absent when nothing is blocked (every source), and when
/// everything is (the grant's `canPublish` is then false: an empty list would mean every source).
pub fn publish_sources(blocked: MediaSet) -> Option<&'static [&'static str]> {
    (!blocked.is_empty() && blocked != MediaSet::ALL).then(|| SOURCES_LEFT[blocked.bits() as usize])
}

/// Signs a join token at `now_ms`. `expires_at_ms` is the token's own `exp` (whole seconds),
/// so it never promises more than the server will honour.
pub fn issue(signer: &LiveKitSigner, client_url: &str, grant: &JoinGrant, now_ms: u64) -> ApiResult<JoinToken> {
    IDENTITY_RULE.check(&grant.identity)?;
    let now_s = now_ms / 1000;
    let token = signer.join_token(&claims(grant), now_s);
    let exp_s = now_s.saturating_add(u64::from(grant.ttl_s));
    Ok(JoinToken { token, expires_at_ms: exp_s.saturating_mul(1000), join: join_info(client_url, &grant.room_id) })
}

/// What a client SDK needs to connect besides the token.
pub fn join_info(client_url: &str, room_id: &str) -> Value {
    json!({ "url": client_url, "room": room_id })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::*;
    use crate::domain::identity::Identity;
    use crate::error::ErrorCode;

    fn grant() -> JoinGrant {
        JoinGrant {
            display_name: Some("Alice".into()),
            metadata_json: Some(r#"{"team":"blue"}"#.into()),
            ..JoinGrant::publisher("rm_7Hq2", "alice", 42)
        }
    }

    fn payload(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn identity_limits() {
        let check = |s: &str| IDENTITY_RULE.check(&Identity::parse(s.to_owned()).unwrap());
        assert!(check("alice").is_ok());
        assert!(check(&"é".repeat(128)).is_ok()); // 256 bytes
                                                  // Well formed in general, over LiveKit's own byte limit.
        for long in ["é".repeat(129), format!("{}é", "x".repeat(255))] {
            let e = check(&long).unwrap_err();
            assert_eq!((e.code, e.details["vendor"].as_str()), (ErrorCode::IdentityNotSupported, Some("livekit")));
            assert!(e.message.contains("256 bytes"), "{}", e.message);
        }
    }

    #[test]
    fn claims_follow_the_grant() {
        let g = grant();
        assert_eq!(
            claims(&g),
            JoinClaims {
                identity: "alice",
                name: Some("Alice"),
                metadata: Some(r#"{"team":"blue"}"#),
                room: "rm_7Hq2",
                ttl_s: 3600,
                can_publish: true,
                can_subscribe: true,
                can_publish_data: true,
                room_admin: false,
                can_publish_sources: None,
            }
        );
        let viewer =
            JoinGrant { can_publish: false, display_name: None, metadata_json: None, is_admin: true, ..grant() };
        let c = claims(&viewer);
        assert!(!c.can_publish && !c.can_publish_data && c.room_admin && c.name.is_none() && c.metadata.is_none());
        let data_only = JoinGrant { can_publish: false, can_publish_data: Some(true), ..grant() };
        assert!(claims(&data_only).can_publish_data);
        let no_data = JoinGrant { can_publish_data: Some(false), ..grant() };
        assert!(!claims(&no_data).can_publish_data);
    }

    #[test]
    fn issued_token_and_join_info() {
        let signer = LiveKitSigner::new("APIkey", "secret");
        let t = issue(&signer, "wss://my.livekit.cloud", &grant(), 1_700_000_000_750).unwrap();
        assert_eq!(t.expires_at_ms, 1_700_003_600_000);
        assert_eq!(t.join, json!({"url": "wss://my.livekit.cloud", "room": "rm_7Hq2"}));
        assert_eq!(t.join, join_info("wss://my.livekit.cloud", "rm_7Hq2"));
        let p = payload(&t.token);
        assert_eq!((p["iss"].as_str(), p["sub"].as_str()), (Some("APIkey"), Some("alice")));
        assert_eq!((p["nbf"].as_u64(), p["exp"].as_u64()), (Some(1_700_000_000), Some(1_700_003_600)));
        assert_eq!(p["name"], "Alice");
        assert_eq!(p["metadata"], r#"{"team":"blue"}"#);
        assert_eq!(
            p["video"],
            json!({"roomJoin": true, "room": "rm_7Hq2", "canPublish": true, "canSubscribe": true, "canPublishData": true})
        );
        let long = JoinGrant { identity: Identity::parse("é".repeat(129)).unwrap(), ..grant() };
        assert_eq!(issue(&signer, "wss://h", &long, 0).unwrap_err().details["field"], "identity");
    }
}
