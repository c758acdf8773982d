//! The API-key cache keeps its own lifetime: a key revoked behind an isolate's back (by another
//! isolate, straight in storage) keeps working in an isolate that cached it for less than
//! `KEY_CACHE_TTL_MS`, and is refused from then on.

mod support;

use rtcgate::api::auth::KEY_CACHE_TTL_MS;
use rtcgate::native::block_on;
use rtcgate::store::keys;
use support::TestApp;

#[test]
fn a_key_revoked_elsewhere_works_here_for_less_than_the_key_cache_ttl() {
    let t = TestApp::new(&[]);
    let key = t.project_key();
    assert_eq!(t.call("GET", "/v1/rtc/room/list", None, Some(&key)).status, 200, "the key is now cached");

    let rt = &t.native.runtime;
    let record = block_on(keys::find_live_key(rt, &keys::hash_key(&key))).unwrap().expect("the key is live");
    block_on(keys::revoke_key(rt, &record.key.id)).unwrap().expect("the key existed");

    t.native.clock.advance_ms(KEY_CACHE_TTL_MS - 1);
    let r = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!(r.status, 200, "still the cached caller inside the window: {}", r.json);
    t.native.clock.advance_ms(1);
    let r = t.call("GET", "/v1/rtc/room/list", None, Some(&key));
    assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "looked up again once the window is over");
}
