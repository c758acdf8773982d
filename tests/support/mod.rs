//! Drives the real `App` natively: SQLite with the real migrations, scripted vendor HTTP,
//! a manual clock. Each test gets a fresh database.

#![allow(dead_code)]

use std::rc::Rc;

use rtcgate::app::App;
use rtcgate::http::{ApiRequest, ApiResponse};
use rtcgate::native::{block_on, NativeRuntime};
use serde_json::{json, Value};

pub const ADMIN: &str = "admin-token-for-tests";
pub const NOW_MS: u64 = 1_700_000_000_000;

pub const LIVEKIT: &[(&str, &str)] = &[
    ("LIVEKIT_URL", "https://livekit.test"),
    ("LIVEKIT_API_KEY", "APItestkey"),
    ("LIVEKIT_API_SECRET", "livekit-secret-livekit-secret-0123456789"),
];
pub const AGORA: &[(&str, &str)] = &[
    ("AGORA_APP_ID", "970CA35de60c44645bbae8a215061b33"),
    ("AGORA_APP_CERTIFICATE", "5CFd2fd1755d40ecb72977518be15d3b"),
    ("AGORA_CUSTOMER_ID", "customer"),
    ("AGORA_CUSTOMER_SECRET", "customer-secret"),
    ("AGORA_API_BASE", "https://agora.test"),
];
pub const ZEGO: &[(&str, &str)] = &[
    ("ZEGO_APP_ID", "1234567890"),
    ("ZEGO_SERVER_SECRET", "fa94dd0f974cf2e293728a526b028271"),
    ("ZEGO_API_BASE", "https://zego.test"),
];

/// A LiveKit webhook request as the server sends it (signed with `LIVEKIT`'s secret), at `NOW_MS`.
pub fn livekit_webhook(body: &str) -> ApiRequest {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let now_s = NOW_MS / 1000;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({"iss": "APItestkey", "nbf": now_s, "iat": now_s, "exp": now_s + 300,
                        "sha256": STANDARD.encode(Sha256::digest(body.as_bytes()))});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(LIVEKIT[2].1.as_bytes()).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    let token = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let mut req = ApiRequest::new("POST", "/v1/vendor-events/livekit").with_header("authorization", &token);
    req.body = body.as_bytes().to_vec();
    req
}

pub struct TestApp {
    pub app: Rc<App>,
    pub native: NativeRuntime,
}

pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub response: ApiResponse,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.header(name)
    }

    /// The error code of an envelope, or "" for a success.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// An app (one isolate's state) with `ADMIN_TOKEN` set plus `vars`.
pub fn app_with(vars: &[&[(&str, &str)]]) -> Rc<App> {
    let mut all: Vec<(String, String)> = vec![("ADMIN_TOKEN".into(), ADMIN.into())];
    for group in vars {
        all.extend(group.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    }
    Rc::new(App::from_env(&|name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())))
}

impl TestApp {
    /// A LiveKit room of the project, created through the API (CreateRoom answered by the script).
    pub fn livekit_room(&self, key: &str, name: &str) -> String {
        self.native.http.respond_with(|req| {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap_or_default();
            rtcgate::native::json_response(
                200,
                &json!({"sid": "RM_1", "name": body["name"], "creation_time": "1700000000"}),
            )
        });
        self.room_on(key, name, "livekit")
    }

    /// A room of the project named `name` on `vendor`, created through the API (whatever that
    /// asks the vendor is answered by the script in place): its id.
    pub fn room_on(&self, key: &str, name: &str, vendor: &str) -> String {
        let r = self.call("POST", "/v1/rtc/room/create", Some(json!({"name": name, "vendor": vendor})), Some(key));
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["room"].as_str().unwrap().to_owned()
    }

    /// An app with `ADMIN_TOKEN` set plus `vars`.
    pub fn new(vars: &[&[(&str, &str)]]) -> TestApp {
        let (app, native) = (app_with(vars), NativeRuntime::new(NOW_MS));
        // The limiter counts what the vars say, as a deployment's `[[ratelimits]]` block and
        // its RATE_LIMIT_* vars agree.
        let rate = app.settings.limits.rate;
        native.limiter.configure(rate.requests, rate.period_s);
        TestApp { app, native }
    }

    pub fn send(&self, req: ApiRequest) -> Reply {
        let response = block_on(self.app.handle(&self.native.runtime, req));
        let json = response.json_body();
        Reply { status: response.status, json, response }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>, key: Option<&str>) -> Reply {
        let mut req = ApiRequest::new(method, path);
        if let Some(b) = body {
            req = req.with_json(&b);
        }
        if let Some(k) = key {
            req = req.with_header("authorization", &format!("Bearer {k}"));
        }
        self.send(req)
    }

    /// A new project and an API key for it, made through the admin API.
    pub fn project_key(&self) -> String {
        self.project_and_key().1
    }

    /// A new project's id and an API key for it.
    pub fn project_and_key(&self) -> (String, String) {
        let p = self.call("POST", "/v1/admin/projects", Some(json!({"name": "p"})), Some(ADMIN));
        assert_eq!(p.status, 201, "{}", p.json);
        let id = p.json["project"]["id"].as_str().unwrap().to_owned();
        let k = self.call("POST", &format!("/v1/admin/projects/{id}/keys"), Some(json!({})), Some(ADMIN));
        assert_eq!(k.status, 201, "{}", k.json);
        (id, k.json["secret"].as_str().unwrap().to_owned())
    }
}

impl TestApp {
    /// Like `send`, but leaves the work the request started for after its response pending
    /// (drive it with `rtcgate::native::run_background`).
    pub fn send_respond_only(&self, req: ApiRequest) -> Reply {
        let response = rtcgate::native::respond_only(self.app.handle(&self.native.runtime, req));
        let json = response.json_body();
        Reply { status: response.status, json, response }
    }

    /// `call` with `send_respond_only`.
    pub fn call_respond_only(&self, method: &str, path: &str, body: Option<Value>, key: Option<&str>) -> Reply {
        let mut req = ApiRequest::new(method, path);
        if let Some(b) = body {
            req = req.with_json(&b);
        }
        if let Some(k) = key {
            req = req.with_header("authorization", &format!("Bearer {k}"));
        }
        self.send_respond_only(req)
    }
}
