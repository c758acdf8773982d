//! Vendor ban rules, natively against scripted vendors: an Agora `join_channel` kicking rule
//! and a ZEGO forbid-user rule (behind `ZEGO_FORBID_RULES`) set with a ban, kept alive by the
//! scheduled job across the vendors' 24 h caps for as long as the ban lasts, and removed when
//! it ends or is lifted; ZEGO's `Code 9` translated, the ban standing on tokens alone.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use rtcgate::app::maintenance;
use rtcgate::native::{block_on, json_response};
use rtcgate::runtime::Clock;
use serde_json::{json, Value};
use support::{TestApp, AGORA, ZEGO};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// Agora answering: the user list has every uid, rules get increasing ids.
fn agora_app() -> TestApp {
    let t = TestApp::new(&[AGORA]);
    let next_id = Rc::new(Cell::new(100u64));
    t.native.http.respond_with(move |req| {
        if req.url.contains("/dev/v1/channel/user/") {
            let empty = json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": 0, "users": []}});
            return json_response(200, &empty);
        }
        if req.url.ends_with("/dev/v1/kicking-rule") {
            next_id.set(next_id.get() + 1);
            return json_response(200, &json!({"status": "success", "id": next_id.get()}));
        }
        json_response(200, &json!({"success": true}))
    });
    t
}

fn rule_calls(t: &TestApp) -> Vec<(String, Value)> {
    let calls = t
        .native
        .http
        .sent()
        .into_iter()
        .filter(|e| e.request.url.ends_with("/dev/v1/kicking-rule") || e.request.url.contains("ForbidUserRule"))
        .map(|e| (e.request.method.to_string(), e.json.clone().unwrap_or(Value::Null)))
        .collect();
    t.native.http.clear();
    calls
}

fn agora_room_with(t: &TestApp, key: &str, identity: &str) -> String {
    let r = t.call(
        "POST",
        "/v1/rtc/token/issue",
        Some(json!({"room": "class", "identity": identity, "vendor": "agora"})),
        Some(key),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["room"].as_str().unwrap().to_owned()
}

#[test]
fn an_agora_ban_sets_a_join_channel_rule_and_a_30_day_ban_outlives_the_24_h_cap() {
    let t = agora_app();
    let key = t.project_key();
    let room = agora_room_with(&t, &key, "eve");
    let uid = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": "eve"})), Some(&key)).json
        ["join"]["uid"]
        .as_u64()
        .unwrap();
    t.native.http.clear();
    let b = t.call(
        "POST",
        &format!("/v1/rtc/participant/ban/{room}"),
        Some(json!({"identity": "eve", "duration_s": 30 * 24 * 3600, "kick": false})),
        Some(&key),
    );
    assert_eq!(b.status, 201, "{}", b.json);
    assert_eq!(b.json["vendor_rule"]["vendor"], "agora", "{}", b.json);
    assert_eq!(b.json["vendor_rule"]["lapses_at"], "2023-11-15T22:13:50Z", "86430 s: Agora's cap");
    let calls = rule_calls(&t);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "POST");
    assert_eq!(calls[0].1["uid"].as_u64(), Some(uid));
    assert_eq!(calls[0].1["cname"], room.as_str());
    assert_eq!(calls[0].1["privileges"], json!(["join_channel"]));
    assert_eq!(calls[0].1["time_in_seconds"], 86_430);

    // Every scheduled run for 30 days: the rule is renewed before it lapses, never later.
    let mut renewals = 0;
    let mut lapses_at = t.native.clock.now_ms() + 86_430_000;
    let end = t.native.clock.now_ms() + 30 * DAY_MS;
    while t.native.clock.now_ms() < end + 10 * 60_000 {
        t.native.clock.advance_ms(5 * 60_000);
        let report = block_on(maintenance::run(&t.app, &t.native.runtime));
        let calls = rule_calls(&t);
        if t.native.clock.now_ms() < end {
            assert!(t.native.clock.now_ms() < lapses_at, "the rule lapsed before it was renewed");
            if report.ban_rules.0 == 1 {
                renewals += 1;
                assert_eq!(calls[0].0, "POST", "{calls:?}");
                assert_eq!(calls[1].0, "DELETE", "the old rule goes once the new one holds: {calls:?}");
                let left_s = (end - t.native.clock.now_ms()).div_ceil(1000);
                assert_eq!(calls[0].1["time_in_seconds"].as_u64(), Some(left_s.min(86_430)));
                lapses_at = t.native.clock.now_ms() + left_s.min(86_430) * 1000;
            } else {
                assert!(calls.is_empty(), "{calls:?}");
            }
        }
    }
    // Each rule lasts Agora's cap (86430 s) and is renewed an hour before it lapses: every
    // 23 h, so 31 times in 30 days.
    assert_eq!(renewals, 31, "one renewal every 23 hours");
    // The ban is over: its rule went with it and nothing is due any more.
    t.native.clock.advance_ms(DAY_MS);
    block_on(maintenance::run(&t.app, &t.native.runtime));
    assert!(rule_calls(&t).is_empty());
    let r = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": room, "identity": "eve"})), Some(&key));
    assert_eq!(r.status, 200, "{}", r.json);
}

#[test]
fn lifting_an_agora_ban_deletes_its_rule() {
    let t = agora_app();
    let key = t.project_key();
    let room = agora_room_with(&t, &key, "eve");
    t.native.http.clear();
    let b = t.call(
        "POST",
        &format!("/v1/rtc/participant/ban/{room}"),
        Some(json!({"identity": "eve", "kick": false})),
        Some(&key),
    );
    let rule_id = rule_calls(&t).len();
    assert_eq!(rule_id, 1);
    let id = b.json["ban"].as_str().unwrap();
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key)).status, 200);
    let calls = rule_calls(&t);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "DELETE");
    assert_eq!(calls[0].1["id"], 101);
    t.native.clock.advance_ms(DAY_MS);
    block_on(maintenance::run(&t.app, &t.native.runtime));
    assert!(rule_calls(&t).is_empty(), "nothing left to do");
}

#[test]
fn an_identity_without_an_agora_uid_in_the_room_gets_no_rule_only_the_token_refusal() {
    let t = agora_app();
    let key = t.project_key();
    let room = agora_room_with(&t, &key, "someone");
    t.native.http.clear();
    let b = t.call(
        "POST",
        &format!("/v1/rtc/participant/ban/{room}"),
        Some(json!({"identity": "stranger", "kick": false})),
        Some(&key),
    );
    assert_eq!((b.status, &b.json["vendor_rule"]), (201, &Value::Null), "{}", b.json);
    assert!(rule_calls(&t).is_empty());
}

fn zego_app(forbid_rules: bool, code: i64) -> TestApp {
    let t = TestApp::new(&[ZEGO, if forbid_rules { &[("ZEGO_FORBID_RULES", "1")] } else { &[] }]);
    t.native.http.respond_with(move |req| {
        let code = if req.url.contains("Action=SetForbidUserRule") { code } else { 0 };
        json_response(200, &json!({"Code": code, "Message": "m", "RequestId": "rq", "Data": {}}))
    });
    t
}

fn zego_ban(t: &TestApp, key: &str, body: Value) -> support::Reply {
    let r = t.call("POST", "/v1/rtc/room/create", Some(json!({"name": "z", "vendor": "zego"})), Some(key));
    let room = r.json["room"].as_str().map(str::to_owned).unwrap_or_else(|| "z".to_owned());
    t.native.http.clear();
    t.call("POST", &format!("/v1/rtc/participant/ban/{room}"), Some(body), Some(key))
}

fn zego_rule_urls(t: &TestApp) -> Vec<String> {
    let urls =
        t.native.http.sent().into_iter().map(|e| e.request.url).filter(|u| u.contains("ForbidUserRule")).collect();
    t.native.http.clear();
    urls
}

#[test]
fn a_zego_ban_sets_a_forbid_user_rule_only_when_enabled() {
    let t = zego_app(false, 0);
    let key = t.project_key();
    let b = zego_ban(&t, &key, json!({"identity": "eve", "kick": false}));
    assert_eq!((b.status, &b.json["vendor_rule"]), (201, &Value::Null), "{}", b.json);
    assert!(zego_rule_urls(&t).is_empty(), "not enabled: no rule asked for");

    let t = zego_app(true, 0);
    let key = t.project_key();
    let b = zego_ban(&t, &key, json!({"identity": "eve", "duration_s": 10 * 24 * 3600, "kick": false}));
    assert_eq!(b.status, 201, "{}", b.json);
    assert_eq!(b.json["vendor_rule"]["vendor"], "zego");
    let urls = zego_rule_urls(&t);
    assert_eq!(urls.len(), 1);
    for part in ["Action=SetForbidUserRule", "RuleType=4", "UserId=eve", "DisabledPrivilege[]=1", "EffectiveTime=86400"]
    {
        assert!(urls[0].contains(part), "{part} in {}", urls[0]);
    }
    let id = b.json["ban"].as_str().unwrap();
    assert_eq!(t.call("DELETE", &format!("/v1/rtc/ban/delete/{id}"), None, Some(&key)).status, 200);
    let urls = zego_rule_urls(&t);
    assert_eq!(urls.len(), 1);
    assert!(urls[0].contains("Action=DelForbidUserRule") && urls[0].contains("RuleType=4"), "{}", urls[0]);
}

#[test]
fn zego_code_9_is_translated_and_the_ban_stands_on_tokens() {
    let t = zego_app(true, 9);
    let key = t.project_key();
    let b = zego_ban(&t, &key, json!({"identity": "eve", "kick": false}));
    assert_eq!(b.status, 201, "{}", b.json);
    let error = &b.json["vendor_rule"]["error"];
    assert_eq!(error["code"], "UNSUPPORTED_BY_VENDOR", "{}", b.json);
    assert!(error["message"].as_str().unwrap().contains("not enabled"), "{}", b.json);
    let r = t.call("POST", "/v1/rtc/token/issue", Some(json!({"room": b.json["room"], "identity": "eve"})), Some(&key));
    assert_eq!((r.status, r.code()), (403, "PARTICIPANT_BANNED"));
}
