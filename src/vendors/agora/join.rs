//! Join tokens: turns a [`JoinGrant`] into an AccessToken2 for channel = room id and the
//! participant's numeric uid, refusing grants an RTC token cannot express.
//!
//! What an AccessToken2 RTC service can say (AgoraIO/Tools `DynamicKey/AgoraDynamicKey/python3/src/RtcTokenBuilder2.py`): join
//! (privilege 1), publish audio (2), publish video (3), publish data (4). It cannot withhold
//! subscribing and has no admin privilege, so `can_subscribe: false` and `is_admin: true`
//! are refused rather than silently granted. Display name and metadata have no place in the
//! token; they live in rtcgate's participant registry only.

use serde_json::json;

use super::token::{AgoraTokenBuilder, RtcPrivileges};
use super::NAME;
use crate::domain::moderation::Media;
use crate::error::{ApiError, ApiResult};
use crate::runtime::Entropy;
use crate::vendors::{grant_not_supported, JoinGrant, JoinToken};

/// Agora channel names are at most 64 bytes (Docs-Source `shared/media-pull/reference/
/// _restful-api.mdx`, "channelName … maximum length … 64 bytes").
const MAX_CHANNEL_BYTES: usize = 64;
/// Salts are drawn from 1..=SALT_MAX, the range Agora's own builders draw from (AgoraIO/Tools
/// `DynamicKey/AgoraDynamicKey/python3/src/AccessToken2.py`).
const SALT_MAX: u32 = 99_999_999;
/// Largest multiple of SALT_MAX that fits a u32: draws at or above it would bias the salt.
const SALT_ZONE: u32 = (u32::MAX / SALT_MAX) * SALT_MAX;

/// Refuses what an AccessToken2 RTC service cannot express: its privileges are join and
/// publish (audio, video, data); subscribing is always allowed and there is no admin.
pub fn refuse_unenforceable(grant: &JoinGrant) -> ApiResult<()> {
    if !grant.can_subscribe {
        return Err(grant_not_supported(NAME, "can_subscribe", "Agora tokens always allow subscribing"));
    }
    if grant.is_admin {
        return Err(grant_not_supported(NAME, "is_admin", "Agora RTC tokens have no admin privilege"));
    }
    Ok(())
}

/// Mints the token. `now_ms` is the issue time; the token's `expire` is `grant.ttl_s`.
pub fn join_token(
    tokens: &AgoraTokenBuilder,
    app_id: &str,
    grant: &JoinGrant,
    now_ms: u64,
    entropy: &dyn Entropy,
) -> ApiResult<JoinToken> {
    refuse_unenforceable(grant)?;
    if grant.ttl_s == 0 {
        // A zero expiry is not a short token: Agora's builders treat 0 as "no expiry" in places.
        return Err(ApiError::invalid_field("ttl_s", "ttl_s must be at least 1 second"));
    }
    if grant.room_id.is_empty() || grant.room_id.len() > MAX_CHANNEL_BYTES {
        return Err(ApiError::invalid_field("room", "Agora channel names are 1 to 64 bytes"));
    }
    if grant.uid == 0 {
        // uid 0 is packed as "" and would let the holder join under ANY uid.
        return Err(ApiError::internal("agora join token requested for uid 0"));
    }
    let issue_ts = u32::try_from(now_ms / 1000).map_err(|_| ApiError::internal("clock beyond 2106"))?;

    // A hard-muted medium loses its publish privilege. Agora enforces publish privileges only
    // where the project has co-host authentication on; its kicking rules enforce them anyway.
    let privileges = RtcPrivileges {
        publish_audio: grant.can_publish && !grant.blocked_media.contains(Media::Audio),
        publish_video: grant.can_publish && !grant.blocked_media.contains(Media::Video),
        publish_data: grant.effective_publish_data(),
    };
    let token = tokens.rtc_token(&grant.room_id, grant.uid, privileges, issue_ts, salt(entropy), grant.ttl_s);
    Ok(JoinToken {
        token,
        expires_at_ms: (u64::from(issue_ts) + u64::from(grant.ttl_s)) * 1000,
        // The App ID is public (clients need it); the certificate never leaves the builder.
        join: json!({ "app_id": app_id, "channel": grant.room_id, "uid": grant.uid }),
    })
}

/// A uniform salt in 1..=99_999_999, by rejection sampling of random u32s.
fn salt(entropy: &dyn Entropy) -> u32 {
    loop {
        let mut buf = [0u8; 4];
        entropy.fill(&mut buf);
        let draw = u32::from_le_bytes(buf);
        if draw < SALT_ZONE {
            return 1 + draw % SALT_MAX;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::error::ErrorCode;
    use crate::native::OsEntropy;
    use crate::vendors::agora::token::inflate_token;

    const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
    const NOW_MS: u64 = 1_700_000_000_789;

    /// Hands out the queued u32 draws, little-endian.
    struct Draws(RefCell<Vec<u32>>);
    impl Entropy for Draws {
        fn fill(&self, buf: &mut [u8]) {
            let next = self.0.borrow_mut().remove(0);
            buf.copy_from_slice(&next.to_le_bytes());
        }
    }

    fn builder() -> AgoraTokenBuilder {
        AgoraTokenBuilder::new(APP_ID, CERT).unwrap()
    }

    fn grant() -> JoinGrant {
        JoinGrant {
            display_name: Some("Alice".into()),
            metadata_json: Some(r#"{"k":"v"}"#.into()),
            ..JoinGrant::publisher("rm_7Hq2abcdefghijklmnopqr", "alice", 4_242)
        }
    }

    /// The fields of an inflated token after the signature, read independently.
    #[derive(Debug, PartialEq)]
    struct Fields {
        app_id: String,
        issue_ts: u32,
        expire: u32,
        salt: u32,
        privileges: Vec<(u16, u32)>,
        channel: String,
        uid: String,
    }

    fn fields(token: &str) -> Fields {
        let content = inflate_token(token).expect("a 007 token");
        let mut at = 0usize;
        let mut take = |n: usize| {
            let s = content[at..at + n].to_vec();
            at += n;
            s
        };
        let u16_ = |b: Vec<u8>| u16::from_le_bytes(b.try_into().unwrap());
        let u32_ = |b: Vec<u8>| u32::from_le_bytes(b.try_into().unwrap());
        let sig_len = u16_(take(2)) as usize;
        take(sig_len);
        let n = u16_(take(2)) as usize;
        let app_id = String::from_utf8(take(n)).unwrap();
        let (issue_ts, expire, salt) = (u32_(take(4)), u32_(take(4)), u32_(take(4)));
        assert_eq!(u16_(take(2)), 1, "one service");
        assert_eq!(u16_(take(2)), 1, "RTC");
        let count = u16_(take(2));
        let privileges = (0..count).map(|_| (u16_(take(2)), u32_(take(4)))).collect();
        let n = u16_(take(2)) as usize;
        let channel = String::from_utf8(take(n)).unwrap();
        let n = u16_(take(2)) as usize;
        let uid = String::from_utf8(take(n)).unwrap();
        Fields { app_id, issue_ts, expire, salt, privileges, channel, uid }
    }

    #[test]
    fn publisher_token_for_the_room_and_uid() {
        let t = join_token(&builder(), APP_ID, &grant(), NOW_MS, &Draws(RefCell::new(vec![41]))).unwrap();
        assert_eq!(
            fields(&t.token),
            Fields {
                app_id: APP_ID.into(),
                issue_ts: 1_700_000_000,
                expire: 3_600,
                salt: 42,
                privileges: vec![(1, 3_600), (2, 3_600), (3, 3_600), (4, 3_600)],
                channel: "rm_7Hq2abcdefghijklmnopqr".into(),
                uid: "4242".into(),
            }
        );
        assert_eq!(t.expires_at_ms, 1_700_003_600_000);
        assert_eq!(t.join, json!({"app_id": APP_ID, "channel": "rm_7Hq2abcdefghijklmnopqr", "uid": 4242}));
        assert!(!t.token.contains(CERT) && !t.join.to_string().contains(CERT));
    }

    #[test]
    fn a_hard_muted_medium_loses_its_publish_privilege() {
        use crate::domain::moderation::{Media, MediaSet};
        let cases: [(&[Media], &[u16]); 4] = [
            (&[Media::Audio], &[1, 3, 4]),
            (&[Media::Video], &[1, 2, 4]),
            // A screen share is video to Agora's token: a screen mute alone changes nothing here.
            (&[Media::Screen], &[1, 2, 3, 4]),
            (&[Media::Audio, Media::Video], &[1, 4]),
        ];
        for (muted, expected) in cases {
            let g = JoinGrant { blocked_media: MediaSet::of(muted), ttl_s: 60, ..grant() };
            let t = join_token(&builder(), APP_ID, &g, NOW_MS, &OsEntropy).unwrap();
            let got: Vec<u16> = fields(&t.token).privileges.into_iter().map(|(p, _)| p).collect();
            assert_eq!(got, expected, "{muted:?}");
        }
    }

    #[test]
    fn privileges_follow_the_grant() {
        let cases: [(bool, Option<bool>, &[u16]); 5] = [
            (true, None, &[1, 2, 3, 4]),
            (false, None, &[1]),
            (true, Some(false), &[1, 2, 3]),
            (false, Some(true), &[1, 4]),
            (true, Some(true), &[1, 2, 3, 4]),
        ];
        for (can_publish, can_publish_data, expected) in cases {
            let g = JoinGrant { can_publish, can_publish_data, ttl_s: 60, ..grant() };
            let t = join_token(&builder(), APP_ID, &g, NOW_MS, &OsEntropy).unwrap();
            let got: Vec<(u16, u32)> = fields(&t.token).privileges;
            let want: Vec<(u16, u32)> = expected.iter().map(|p| (*p, 60)).collect();
            assert_eq!(got, want, "publish={can_publish} data={can_publish_data:?}");
        }
    }

    #[test]
    fn grants_a_token_cannot_express_are_refused() {
        let e = join_token(&builder(), APP_ID, &JoinGrant { can_subscribe: false, ..grant() }, NOW_MS, &OsEntropy)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::GrantNotSupported);
        assert_eq!((e.details["field"].as_str(), e.details["vendor"].as_str()), (Some("can_subscribe"), Some("agora")));

        let e =
            join_token(&builder(), APP_ID, &JoinGrant { is_admin: true, ..grant() }, NOW_MS, &OsEntropy).unwrap_err();
        assert_eq!(e.code, ErrorCode::GrantNotSupported);
        assert_eq!(e.details["field"], "is_admin");
    }

    #[test]
    fn impossible_inputs_are_refused_not_minted() {
        let mint = |g: JoinGrant| join_token(&builder(), APP_ID, &g, NOW_MS, &OsEntropy).unwrap_err();
        assert_eq!(mint(JoinGrant { ttl_s: 0, ..grant() }).details["field"], "ttl_s");
        assert_eq!(mint(JoinGrant { room_id: "r".repeat(65), ..grant() }).details["field"], "room");
        assert_eq!(mint(JoinGrant { room_id: String::new(), ..grant() }).details["field"], "room");
        assert_eq!(mint(JoinGrant { uid: 0, ..grant() }).code, ErrorCode::Internal);
        // 64 bytes is still fine
        assert!(join_token(&builder(), APP_ID, &JoinGrant { room_id: "r".repeat(64), ..grant() }, NOW_MS, &OsEntropy)
            .is_ok());
    }

    #[test]
    fn salts_stay_in_range_without_bias() {
        assert_eq!(salt(&Draws(RefCell::new(vec![0]))), 1);
        assert_eq!(salt(&Draws(RefCell::new(vec![SALT_MAX - 1]))), SALT_MAX);
        assert_eq!(salt(&Draws(RefCell::new(vec![SALT_MAX]))), 1);
        assert_eq!(salt(&Draws(RefCell::new(vec![SALT_ZONE - 1]))), SALT_MAX);
        // draws in the biased tail are thrown away
        assert_eq!(salt(&Draws(RefCell::new(vec![u32::MAX, SALT_ZONE, 6]))), 7);
        for _ in 0..1_000 {
            assert!((1..=SALT_MAX).contains(&salt(&OsEntropy)));
        }
    }
}
