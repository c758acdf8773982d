//! The participant registry and metered sessions follow vendor presence events that arrive
//! late, twice or out of order: each write fills in only what is missing or newer. Runs the
//! store on native SQLite (the same migrations as D1), so every statement is also one the
//! plan check knows.

use rtcgate::domain::events::Session;
use rtcgate::native::{block_on, NativeRuntime};
use rtcgate::store::{participants, sessions};
use serde_json::Value;

const T0: u64 = 1_700_000_000_000;
const ROOM: &str = "rm_presence";

fn session(key: &str, joined: Option<u64>, left: Option<u64>) -> Session {
    Session { key: key.to_owned(), joined_at_ms: joined, left_at_ms: left }
}

fn record(native: &NativeRuntime, identity: &str, s: &Session) {
    block_on(sessions::record(&native.runtime, "prj_a", ROOM, identity, s)).unwrap();
}

/// `(joined_at_ms, left_at_ms)` of the identity in the registry.
fn presence(native: &NativeRuntime, identity: &str) -> (Option<i64>, Option<i64>) {
    let rows = native.db.rows(&format!(
        "SELECT joined_at_ms, left_at_ms FROM participants WHERE room_id = '{ROOM}' AND identity = '{identity}'"
    ));
    let at = |col: &str| rows[0].get(col).and_then(Value::as_i64);
    (at("joined_at_ms"), at("left_at_ms"))
}

fn registered(identity: &str) -> NativeRuntime {
    let native = NativeRuntime::new(T0);
    block_on(participants::upsert(&native.runtime, ROOM, identity, None, None)).unwrap();
    native
}

#[test]
fn joins_and_leaves_in_any_order_keep_the_latest_presence() {
    let native = registered("alice");
    record(&native, "alice", &session("s1", Some(T0), None));
    assert_eq!(presence(&native, "alice"), (Some(T0 as i64), None));
    record(&native, "alice", &session("s1", Some(T0), Some(T0 + 5_000)));
    assert_eq!(presence(&native, "alice"), (Some(T0 as i64), Some((T0 + 5_000) as i64)));

    // A late copy of the first join does not reopen the presence that ended after it.
    record(&native, "alice", &session("s1", Some(T0), None));
    assert_eq!(presence(&native, "alice"), (Some(T0 as i64), Some((T0 + 5_000) as i64)));

    // A later join opens a new presence; a late leave of the earlier one does not close it.
    record(&native, "alice", &session("s2", Some(T0 + 9_000), None));
    assert_eq!(presence(&native, "alice"), (Some((T0 + 9_000) as i64), None));
    record(&native, "alice", &session("s1", Some(T0), Some(T0 + 5_000)));
    assert_eq!(presence(&native, "alice"), (Some((T0 + 9_000) as i64), None));

    let joined = block_on(sessions::joined_at(&native.runtime, ROOM, &["alice".to_owned()])).unwrap();
    assert_eq!(joined, vec![("alice".to_owned(), (T0 + 9_000) as i64)]);
}

#[test]
fn a_leave_before_its_join_still_records_both_ends() {
    let native = registered("bob");
    record(&native, "bob", &session("s1", Some(T0), Some(T0 + 61_000)));
    assert_eq!(presence(&native, "bob"), (Some(T0 as i64), Some((T0 + 61_000) as i64)));
    record(&native, "bob", &session("s1", Some(T0), None));
    let usage = block_on(sessions::usage(&native.runtime, "prj_a", T0 as i64, (T0 + 1) as i64, None)).unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].sessions, usage[0].seconds, usage[0].minutes), (1, 61, 2), "the join did not undo the leave");
}

#[test]
fn a_finished_room_ends_every_open_presence_and_session() {
    let native = registered("carol");
    block_on(participants::upsert(&native.runtime, ROOM, "dave", None, None)).unwrap();
    block_on(participants::upsert(&native.runtime, ROOM, "erin", None, None)).unwrap();
    record(&native, "carol", &session("c", Some(T0), None));
    record(&native, "dave", &session("d", Some(T0 + 1_000), Some(T0 + 2_000)));
    // erin never joined: nothing to close.
    block_on(sessions::close_room(&native.runtime, ROOM, T0 + 30_500)).unwrap();
    assert_eq!(presence(&native, "carol"), (Some(T0 as i64), Some((T0 + 30_500) as i64)));
    assert_eq!(presence(&native, "dave"), (Some((T0 + 1_000) as i64), Some((T0 + 2_000) as i64)));
    assert_eq!(presence(&native, "erin"), (None, None));
    let usage = block_on(sessions::usage(&native.runtime, "prj_a", T0 as i64, (T0 + 60_000) as i64, None)).unwrap();
    assert_eq!((usage[0].sessions, usage[0].seconds, usage[0].minutes), (2, 31 + 1, 1 + 1));
}

#[test]
fn usage_is_summed_per_room_within_the_range_and_project() {
    let native = NativeRuntime::new(T0);
    let rt = &native.runtime;
    let closed = |room: &str, project: &str, key: &str, joined: u64, secs: u64| {
        let s = session(key, Some(joined), Some(joined + secs * 1000));
        block_on(sessions::record(rt, project, room, "p", &s)).unwrap();
    };
    closed("rm_b", "prj_a", "1", T0, 30);
    closed("rm_a", "prj_a", "2", T0 + 10, 61);
    closed("rm_a", "prj_a", "3", T0 + 20, 59);
    closed("rm_a", "prj_a", "4", T0 + 100, 600); // after the range
    closed("rm_a", "prj_other", "5", T0, 600); // another project
    block_on(sessions::record(rt, "prj_a", "rm_a", "p", &session("6", Some(T0), None))).unwrap(); // still open
    let usage = block_on(sessions::usage(rt, "prj_a", T0 as i64, (T0 + 100) as i64, None)).unwrap();
    let got: Vec<_> = usage.iter().map(|u| (u.room_id.as_str(), u.sessions, u.seconds, u.minutes)).collect();
    assert_eq!(got, vec![("rm_a", 2, 120, 3), ("rm_b", 1, 30, 1)], "rooms in order, minutes rounded per session");
    let one = block_on(sessions::usage(rt, "prj_a", T0 as i64, (T0 + 100) as i64, Some("rm_b"))).unwrap();
    assert_eq!(one.iter().map(|u| (u.room_id.as_str(), u.seconds)).collect::<Vec<_>>(), vec![("rm_b", 30)]);
}

/// Usage summed by D1 gives exactly what the Worker computed before, when it read every
/// session of the range and summed per room itself (that code is kept here as the oracle):
/// same rooms, same order, same figures, over many rooms, ranges and session lengths.
#[test]
fn usage_summed_in_sql_equals_the_per_row_sum_it_replaced() {
    use std::collections::BTreeMap;
    let native = NativeRuntime::new(T0);
    let rt = &native.runtime;
    // A deterministic spread: 40 rooms (ids that sort differently as text and as numbers),
    // 3 projects, lengths from 0 s to over an hour, starts over a day.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut all = Vec::new();
    for i in 0..3_000u64 {
        let room = format!("rm_{}", next() % 40);
        let project = ["prj_a", "prj_b", "prj_c"][(next() % 3) as usize];
        let joined = T0 + next() % (24 * 3600 * 1000);
        let secs = match next() % 4 {
            0 => 0,
            1 => next() % 60,
            2 => 60 * (next() % 5),
            _ => next() % 4_000,
        };
        let s = session(&format!("k{i}"), Some(joined), Some(joined + secs * 1000));
        block_on(sessions::record(rt, project, &room, "p", &s)).unwrap();
        all.push((project, room, joined, s.seconds().unwrap() as i64));
    }
    let oracle = |project: &str, from: u64, to: u64, room: Option<&str>| {
        let mut per_room: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
        for (p, r, joined, seconds) in &all {
            if *p != project || *joined < from || *joined >= to || room.is_some_and(|x| x != r) {
                continue;
            }
            let u = per_room.entry(r.clone()).or_insert((0, 0, 0));
            u.0 += 1;
            u.1 += seconds;
            u.2 += (seconds + 59) / 60;
        }
        per_room.into_iter().map(|(r, (n, s, m))| (r, n, s, m)).collect::<Vec<_>>()
    };
    let ranges = [(T0, T0 + 24 * 3600 * 1000), (T0 + 3_600_000, T0 + 7_200_000), (T0 + 5, T0 + 6)];
    for project in ["prj_a", "prj_b", "prj_c", "prj_none"] {
        for (from, to) in ranges {
            for room in [None, Some("rm_7"), Some("rm_39")] {
                let got = block_on(sessions::usage(rt, project, from as i64, to as i64, room)).unwrap();
                let got: Vec<_> = got.into_iter().map(|u| (u.room_id, u.sessions, u.seconds, u.minutes)).collect();
                assert_eq!(got, oracle(project, from, to, room), "{project} [{from}, {to}) {room:?}");
            }
        }
    }
    assert!(!oracle("prj_a", T0, T0 + 24 * 3600 * 1000, None).is_empty());
}
