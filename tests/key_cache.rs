//! The API-key cache and the change feed: a key revoked behind an isolate's back (by another
//! isolate, straight in storage) keeps working in an isolate that cached it only until that
//! isolate next reads the change feed, which it does before answering once its last read is
//! `FEED_STALE_MS` old; and never longer than `KEY_CACHE_TTL_MS`.

mod support;

use rtcgate::api::auth::KEY_CACHE_TTL_MS;
use rtcgate::api::revocation::FEED_STALE_MS;
use rtcgate::native::block_on;
use rtcgate::store::keys;
use support::TestApp;

#[test]
fn a_key_revoked_elsewhere_works_here_for_less_than_the_staleness_window() {
    const { assert!(FEED_STALE_MS < KEY_CACHE_TTL_MS) };
    let t = TestApp::new(&[]);
    let key = t.project_key();
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some(&key)).status, 200, "the key is now cached");

    let rt = &t.native.runtime;
    let record = block_on(keys::find_live_key(rt, &keys::hash_key(&key))).unwrap().expect("the key is live");
    block_on(keys::revoke_key(rt, &record.key.id)).unwrap().expect("the key existed");

    let r = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(r.status, 200, "still the cached caller before the feed is read: {}", r.json);
    t.native.clock.advance_ms(FEED_STALE_MS);
    let r = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "the feed was read before answering");
}
