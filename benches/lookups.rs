//! Does finding a room depend on how many rooms the project has? `room.get` and a
//! `token.issue` that misses the isolate cache, through the whole `App::handle` on the native
//! runtime (SQLite running the D1 migrations, scripted Agora answers), in a project of 10
//! rooms and in one of 100 000. Prints the median time per request of each and their ratio;
//! nothing here asserts a time (`make bench` runs it).

use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use rtcgate::app::App;
use rtcgate::http::ApiRequest;
use rtcgate::native::{block_on, json_response, NativeRuntime};
use serde_json::{json, Value};

const NOW_MS: u64 = 1_700_000_000_000;
const ROUNDS: usize = 11;
const PER_ROUND: usize = 200;

const ENV: &[(&str, &str)] = &[
    ("ADMIN_TOKEN", "bench-admin-token"),
    ("AGORA_APP_ID", "970CA35de60c44645bbae8a215061b33"),
    ("AGORA_APP_CERTIFICATE", "5CFd2fd1755d40ecb72977518be15d3b"),
    ("AGORA_CUSTOMER_ID", "customer"),
    ("AGORA_CUSTOMER_SECRET", "customer-secret"),
    ("AGORA_API_BASE", "https://agora.test"),
];

fn app() -> Rc<App> {
    Rc::new(App::from_env(&|name: &str| ENV.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())))
}

fn call(app: &Rc<App>, rt: &NativeRuntime, method: &str, path: &str, body: Option<Value>, bearer: &str) -> Value {
    let mut req = ApiRequest::new(method, path).with_header("authorization", &format!("Bearer {bearer}"));
    if let Some(b) = body {
        req = req.with_json(&b);
    }
    let response = block_on(app.handle(&rt.runtime, req));
    assert!(response.status < 300, "{method} {path}: {}", response.json_body());
    response.json_body()
}

/// A project with `rooms` rooms (`room-1` … `room-N`) and its API key.
fn project_with(app: &Rc<App>, rooms: u32) -> (NativeRuntime, String) {
    let rt = NativeRuntime::new(NOW_MS);
    // Every call is measured with one key on a clock that does not move: no rate limit.
    rt.limiter.configure(u32::MAX, 60);
    rt.http.respond_with(|_| {
        json_response(
            200,
            &json!({"success": true, "data": {"channel_exist": true, "mode": 1, "total": 1, "users": [1]}}),
        )
    });
    let project = call(app, &rt, "POST", "/v1/admin/projects", Some(json!({"name": "bench"})), "bench-admin-token");
    let project_id = project["project"]["id"].as_str().unwrap().to_owned();
    let key =
        call(app, &rt, "POST", &format!("/v1/admin/projects/{project_id}/keys"), Some(json!({})), "bench-admin-token");
    rt.db.exec_raw(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {rooms}) \
         INSERT INTO rooms (id, project_id, name, vendor, created_at_ms) \
         SELECT printf('rm_%022d', n), '{project_id}', 'room-' || n, 'agora', {NOW_MS} - n FROM i"
    ));
    (rt, key["secret"].as_str().unwrap().to_owned())
}

/// Median over `ROUNDS` of the mean time of `PER_ROUND` calls of `run`, in microseconds,
/// after one untimed round. `prepare` makes what a round needs, outside the timing.
fn median_us<S>(mut prepare: impl FnMut() -> S, mut run: impl FnMut(&S, usize)) -> f64 {
    let warm = prepare();
    for i in 0..PER_ROUND {
        run(&warm, i);
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let ready = prepare();
            let start = Instant::now();
            for i in 0..PER_ROUND {
                run(&ready, i);
            }
            start.elapsed().as_secs_f64() * 1e6 / PER_ROUND as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

struct Figures {
    room_get_us: f64,
    token_issue_us: f64,
}

fn measure(rooms: u32) -> Figures {
    let isolate = app();
    let (rt, key) = project_with(&isolate, rooms);
    let room = format!("room-{}", rooms.div_ceil(2));
    let get = ApiRequest::new("GET", &format!("/v1/rtc/room/get/{room}"))
        .with_header("authorization", &format!("Bearer {key}"));
    let room_get_us = median_us(
        || (),
        |_, _| {
            let response = block_on(isolate.handle(&rt.runtime, get.clone()));
            assert_eq!(response.status, 200);
            black_box(response);
        },
    );
    // Each token request in a fresh isolate (a fresh `App`, made before the clock starts):
    // the room comes from storage, never from the isolate cache.
    let issue = ApiRequest::new("POST", "/v1/rtc/token/issue")
        .with_header("authorization", &format!("Bearer {key}"))
        .with_json(&json!({"room": room, "identity": "alice"}));
    let token_issue_us = median_us(
        || (0..PER_ROUND).map(|_| app()).collect::<Vec<Rc<App>>>(),
        |isolates, i| {
            let response = block_on(isolates[i].handle(&rt.runtime, issue.clone()));
            assert_eq!(response.status, 200);
            black_box(response);
        },
    );
    Figures { room_get_us, token_issue_us }
}

fn main() {
    let small = measure(10);
    let large = measure(100_000);
    println!("room lookups on the native runtime (SQLite), median of {ROUNDS} rounds of {PER_ROUND} requests");
    println!("{:<34} {:>12} {:>14} {:>7}", "", "10 rooms", "100 000 rooms", "ratio");
    for (name, a, b) in [
        ("room.get (by name)", small.room_get_us, large.room_get_us),
        ("token.issue (isolate cache miss)", small.token_issue_us, large.token_issue_us),
    ] {
        println!("{name:<34} {a:>10.1} µs {b:>12.1} µs {:>6.2}×", b / a);
    }
}
