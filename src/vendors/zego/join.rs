//! Join tokens for ZEGO: a strict-room token04 (zegoim/zego_server_assistant `token/go/src/token04`) carrying the room and the
//! publish privilege, and the refusal of every grant token04 cannot express.

use serde_json::json;

use super::token::{iv_from_random, strict_room_payload, ZegoTokenMinter};
use super::{identity, NAME};
use crate::domain::moderation::Media;
use crate::error::{ApiError, ApiResult};
use crate::runtime::Entropy;
use crate::vendors::{grant_not_supported, JoinGrant, JoinToken};

/// Refuses what a token04 cannot enforce. Its privileges are "log in to the room" and
/// "publish" only: every logged-in user can play streams, no token makes an admin, and
/// room messages are not gated by the token.
pub fn refuse_unenforceable(grant: &JoinGrant) -> ApiResult<()> {
    if !grant.can_subscribe {
        return Err(grant_not_supported(
            NAME,
            "can_subscribe",
            "token04 cannot stop a logged-in user from playing streams",
        ));
    }
    if grant.can_publish_data == Some(false) {
        return Err(grant_not_supported(
            NAME,
            "can_publish_data",
            "token04 cannot stop a logged-in user from sending room messages",
        ));
    }
    if grant.is_admin {
        return Err(grant_not_supported(NAME, "is_admin", "token04 has no admin privilege"));
    }
    Ok(())
}

/// Whether the token grants publishing (privilege "2"): not when audio and video are both
/// hard-muted (ZEGO streams carry audio and video; a screen share is a video stream, so a
/// mute of one medium alone is enforced by forbid-stream rules, not by the token).
pub fn publishes(grant: &JoinGrant) -> bool {
    grant.can_publish && !(grant.blocked_media.contains(Media::Audio) && grant.blocked_media.contains(Media::Video))
}

/// Mints the token: `user_id` = identity, the strict room payload, `ctime` = now, a random
/// i32 nonce and a random IV. `expires_at_ms` is the token's own expiry, `(ctime + ttl)` s.
pub fn mint(
    minter: &ZegoTokenMinter,
    app_id: u32,
    grant: &JoinGrant,
    now_ms: u64,
    entropy: &dyn Entropy,
) -> ApiResult<JoinToken> {
    refuse_unenforceable(grant)?;
    super::messages::refuse_reserved(grant.identity.as_str())?;
    identity::IDENTITY_RULE.check(&grant.identity)?;
    if grant.ttl_s == 0 {
        return Err(ApiError::invalid_field("ttl_s", "a ZEGO token must live at least 1 second"));
    }
    let ctime_s = now_ms / 1000;
    let mut nonce = [0u8; 4];
    entropy.fill(&mut nonce);
    let mut iv_bytes = [0u8; 16];
    entropy.fill(&mut iv_bytes);
    let token = minter.token04(
        grant.identity.as_str(),
        &strict_room_payload(&grant.room_id, publishes(grant)),
        ctime_s as i64,
        i64::from(grant.ttl_s),
        i32::from_le_bytes(nonce),
        &iv_from_random(iv_bytes),
    );
    Ok(JoinToken {
        token,
        expires_at_ms: (ctime_s + u64::from(grant.ttl_s)) * 1000,
        join: json!({ "app_id": app_id, "room_id": grant.room_id, "user_id": grant.identity.as_str() }),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::domain::identity::Identity;
    use crate::error::ErrorCode;

    const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";

    /// Bytes 1, 2, 3, … in order, so each draw is predictable.
    struct CountingEntropy(Cell<u8>);

    impl Entropy for CountingEntropy {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                self.0.set(self.0.get().wrapping_add(1));
                *b = self.0.get();
            }
        }
    }

    fn grant() -> JoinGrant {
        JoinGrant { display_name: Some("Alice".into()), ..JoinGrant::publisher("rm_7Hq2", "alice", 7) }
    }

    fn minter() -> ZegoTokenMinter {
        ZegoTokenMinter::new(1234567890, SECRET).unwrap()
    }

    #[test]
    fn mints_a_strict_room_token04() {
        let now_ms = 1_700_000_000_500;
        let token = mint(&minter(), 1234567890, &grant(), now_ms, &CountingEntropy(Cell::new(0))).unwrap();

        // The same draws, in the same order: nonce bytes 1..=4, then IV bytes 5..=20.
        let nonce = i32::from_le_bytes([1, 2, 3, 4]);
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8 + 5);
        let payload = r#"{"room_id":"rm_7Hq2","privilege":{"1":1,"2":1},"stream_id_list":null}"#;
        let expected = minter().token04("alice", payload, 1_700_000_000, 3600, nonce, &iv_from_random(iv));
        assert_eq!(token.token, expected);
        assert!(token.token.starts_with("04"));
        assert_eq!(token.expires_at_ms, 1_700_003_600_000);
        assert_eq!(token.join, json!({"app_id": 1234567890u32, "room_id": "rm_7Hq2", "user_id": "alice"}));
    }

    #[test]
    fn publishing_goes_only_when_audio_and_video_are_both_muted() {
        use crate::domain::moderation::{Media, MediaSet};
        let with = |muted: &[Media]| JoinGrant { blocked_media: MediaSet::of(muted), ..grant() };
        assert!(publishes(&with(&[Media::Audio])));
        assert!(publishes(&with(&[Media::Video])));
        assert!(!publishes(&with(&[Media::Audio, Media::Video])));
        // The minted payload says the same.
        let token = mint(
            &minter(),
            1234567890,
            &with(&[Media::Audio, Media::Video]),
            1_700_000_000_000,
            &CountingEntropy(Cell::new(0)),
        )
        .unwrap();
        let listener = JoinGrant { can_publish: false, ..grant() };
        let expected =
            mint(&minter(), 1234567890, &listener, 1_700_000_000_000, &CountingEntropy(Cell::new(0))).unwrap();
        assert_eq!(token.token, expected.token);
    }

    #[test]
    fn subscribers_get_no_publish_privilege() {
        let listener = JoinGrant { can_publish: false, ..grant() };
        let token = mint(&minter(), 1234567890, &listener, 1_700_000_000_000, &CountingEntropy(Cell::new(0))).unwrap();
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8 + 5);
        let payload = r#"{"room_id":"rm_7Hq2","privilege":{"1":1,"2":0},"stream_id_list":null}"#;
        let expected = minter().token04(
            "alice",
            payload,
            1_700_000_000,
            3600,
            i32::from_le_bytes([1, 2, 3, 4]),
            &iv_from_random(iv),
        );
        assert_eq!(token.token, expected);
    }

    #[test]
    fn fresh_randomness_makes_fresh_tokens() {
        let entropy = CountingEntropy(Cell::new(0));
        let a = mint(&minter(), 1234567890, &grant(), 1_700_000_000_000, &entropy).unwrap();
        let b = mint(&minter(), 1234567890, &grant(), 1_700_000_000_000, &entropy).unwrap();
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn refuses_grants_token04_cannot_enforce() {
        let entropy = CountingEntropy(Cell::new(0));
        let cases = [
            (JoinGrant { can_subscribe: false, ..grant() }, "can_subscribe"),
            (JoinGrant { can_publish_data: Some(false), ..grant() }, "can_publish_data"),
            (JoinGrant { is_admin: true, ..grant() }, "is_admin"),
        ];
        for (g, field) in cases {
            let e = mint(&minter(), 1, &g, 0, &entropy).unwrap_err();
            assert_eq!(e.code, ErrorCode::GrantNotSupported, "{field}");
            assert_eq!((e.details["field"].as_str(), e.details["vendor"].as_str()), (Some(field), Some("zego")));
        }
        // Asking for what the token does anyway is fine.
        assert!(refuse_unenforceable(&JoinGrant { can_publish_data: Some(true), ..grant() }).is_ok());
        assert!(refuse_unenforceable(&JoinGrant { can_publish: false, can_publish_data: None, ..grant() }).is_ok());
    }

    #[test]
    fn refuses_bad_identity_and_zero_ttl() {
        let entropy = CountingEntropy(Cell::new(0));
        let e =
            mint(&minter(), 1, &JoinGrant { identity: Identity::parse("a b".into()).unwrap(), ..grant() }, 0, &entropy)
                .unwrap_err();
        assert_eq!(e.details["field"], "identity");
        let e = mint(&minter(), 1, &JoinGrant { ttl_s: 0, ..grant() }, 0, &entropy).unwrap_err();
        assert_eq!(e.details["field"], "ttl_s");
    }
}
