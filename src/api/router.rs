//! The route table: which handler serves a method and path, and which paths exist at all
//! (so an unknown path is a 404 and a known path with the wrong method a 405 with `Allow`).

use crate::http::{percent_decode, Method};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    AdminCreateProject,
    AdminCreateKey,
    AdminListKeys,
    AdminRevokeKey,
    Discovery,
    RoomCreate,
    RoomGet,
    RoomList,
    RoomDelete,
    TokenIssue,
    ParticipantList,
    ParticipantKick,
    ParticipantBan,
    BanList,
    BanDelete,
    ParticipantMute,
    ParticipantUpdate,
    RoomMessage,
    RecordingStart,
    RecordingStop,
    RecordingGet,
    RecordingList,
    SessionList,
    SessionGet,
    Presence,
    StreamStart,
    StreamUpdate,
    StreamStop,
    StreamGet,
    StreamList,
    VendorEvents,
    EventList,
    WebhookCreate,
    WebhookList,
    WebhookGet,
    WebhookDelete,
    Usage,
    Limits,
    DestinationCreate,
    DestinationList,
    DestinationDelete,
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    Admin,
    ApiKey,
}

impl Route {
    /// Routes that read a JSON body. The others accept none (an empty body or `{}`), so a
    /// field sent to them is reported instead of ignored.
    pub fn takes_body(self) -> bool {
        use Route::*;
        matches!(
            self,
            AdminCreateProject
                | AdminCreateKey
                | RoomCreate
                | TokenIssue
                | ParticipantKick
                | ParticipantBan
                | ParticipantMute
                | ParticipantUpdate
                | RoomMessage
                | RecordingStart
                | RecordingStop
                | StreamStart
                | StreamUpdate
                | StreamStop
                | VendorEvents
                | WebhookCreate
                | DestinationCreate
        )
    }

    /// Routes that take the body exactly as a vendor sends it (signed bytes, JSON or form).
    pub fn takes_vendor_body(self) -> bool {
        self == Route::VendorEvents
    }

    /// Routes that read query parameters (they reject the ones they do not know themselves).
    pub fn takes_query(self) -> bool {
        matches!(
            self,
            Route::RoomList
                | Route::RecordingList
                | Route::StreamList
                | Route::EventList
                | Route::Usage
                | Route::DestinationList
                | Route::BanList
                | Route::SessionList
                | Route::Presence
        )
    }

    pub fn access(self) -> Access {
        use Route::*;
        match self {
            // Vendor events are authenticated by the vendor's signature instead.
            Health | OpenApi | VendorEvents => Access::Public,
            AdminCreateProject | AdminCreateKey | AdminListKeys | AdminRevokeKey => Access::Admin,
            _ => Access::ApiKey,
        }
    }
}

/// Path patterns; `{}` matches one non-empty segment.
const TABLE: &[(Method, &str, Route)] = &[
    (Method::Get, "/v1/health", Route::Health),
    (Method::Get, "/v1/openapi.json", Route::OpenApi),
    (Method::Post, "/v1/admin/projects", Route::AdminCreateProject),
    (Method::Post, "/v1/admin/projects/{}/keys", Route::AdminCreateKey),
    (Method::Get, "/v1/admin/projects/{}/keys", Route::AdminListKeys),
    (Method::Post, "/v1/admin/keys/{}/revoke", Route::AdminRevokeKey),
    (Method::Get, "/v1/discovery/{}", Route::Discovery),
    (Method::Post, "/v1/rtc/room/create", Route::RoomCreate),
    (Method::Get, "/v1/rtc/room/get/{}", Route::RoomGet),
    (Method::Get, "/v1/rtc/room/list", Route::RoomList),
    (Method::Delete, "/v1/rtc/room/delete/{}", Route::RoomDelete),
    (Method::Post, "/v1/rtc/token/issue", Route::TokenIssue),
    (Method::Get, "/v1/rtc/participant/list/{}", Route::ParticipantList),
    (Method::Post, "/v1/rtc/participant/kick/{}", Route::ParticipantKick),
    (Method::Post, "/v1/rtc/participant/ban/{}", Route::ParticipantBan),
    (Method::Get, "/v1/rtc/ban/list", Route::BanList),
    (Method::Delete, "/v1/rtc/ban/delete/{}", Route::BanDelete),
    (Method::Post, "/v1/rtc/participant/mute/{}", Route::ParticipantMute),
    (Method::Post, "/v1/rtc/participant/update/{}", Route::ParticipantUpdate),
    (Method::Post, "/v1/rtc/room/message/{}", Route::RoomMessage),
    (Method::Post, "/v1/rtc/recording/start", Route::RecordingStart),
    (Method::Post, "/v1/rtc/recording/stop/{}", Route::RecordingStop),
    (Method::Get, "/v1/rtc/recording/get/{}", Route::RecordingGet),
    (Method::Get, "/v1/rtc/recording/list", Route::RecordingList),
    (Method::Get, "/v1/rtc/session/list", Route::SessionList),
    (Method::Get, "/v1/rtc/session/get/{}", Route::SessionGet),
    (Method::Get, "/v1/rtc/presence", Route::Presence),
    (Method::Post, "/v1/rtc/stream/start", Route::StreamStart),
    (Method::Post, "/v1/rtc/stream/update/{}", Route::StreamUpdate),
    (Method::Post, "/v1/rtc/stream/stop/{}", Route::StreamStop),
    (Method::Get, "/v1/rtc/stream/get/{}", Route::StreamGet),
    (Method::Get, "/v1/rtc/stream/list", Route::StreamList),
    // One path per vendor that sends events, so any other is simply no route.
    (Method::Post, "/v1/vendor-events/livekit", Route::VendorEvents),
    (Method::Post, "/v1/vendor-events/agora", Route::VendorEvents),
    (Method::Post, "/v1/vendor-events/zego", Route::VendorEvents),
    (Method::Get, "/v1/rtc/event/list", Route::EventList),
    (Method::Post, "/v1/rtc/webhook/create", Route::WebhookCreate),
    (Method::Get, "/v1/rtc/webhook/list", Route::WebhookList),
    (Method::Get, "/v1/rtc/webhook/get/{}", Route::WebhookGet),
    (Method::Delete, "/v1/rtc/webhook/delete/{}", Route::WebhookDelete),
    (Method::Get, "/v1/rtc/usage", Route::Usage),
    (Method::Get, "/v1/rtc/limits", Route::Limits),
    (Method::Post, "/v1/rtc/recording/destination/create", Route::DestinationCreate),
    (Method::Get, "/v1/rtc/recording/destination/list", Route::DestinationList),
    (Method::Delete, "/v1/rtc/recording/destination/delete/{}", Route::DestinationDelete),
];

#[derive(Debug, PartialEq)]
pub enum Match {
    Found {
        route: Route,
        params: Vec<String>,
    },
    /// The path exists, the method does not: the value for `Allow`.
    WrongMethod {
        allow: String,
    },
    NotFound,
}

pub fn route(method: &Method, path: &str) -> Match {
    // HEAD is served like GET (the body is dropped at the edge).
    let method = if *method == Method::Head { &Method::Get } else { method };
    let mut allowed: Vec<&str> = Vec::new();
    for (m, pattern, route) in TABLE {
        if let Some(params) = match_path(pattern, path) {
            if m == method {
                return Match::Found { route: *route, params };
            }
            allowed.push(m.as_str());
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        Match::WrongMethod { allow: allowed.join(", ") }
    }
}

fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut seg = path.split('/');
    loop {
        match (pat.next(), seg.next()) {
            (None, None) => return Some(params),
            (Some("{}"), Some(s)) if !s.is_empty() => params.push(percent_decode(s)),
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

/// Every route's method and pattern, for the OpenAPI consistency test.
pub fn table() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().map(|(m, p, _)| (m.as_str_static(), *p))
}

impl Method {
    fn as_str_static(&self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
            Method::Head => "head",
            Method::Options => "options",
            Method::Other(_) => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_params_and_trailing_slash() {
        assert_eq!(
            route(&Method::Get, "/v1/rtc/room/get/rm_abc/"),
            Match::Found { route: Route::RoomGet, params: vec!["rm_abc".into()] }
        );
        assert_eq!(
            route(&Method::Get, "/v1/rtc/room/get/stand%20up"),
            Match::Found { route: Route::RoomGet, params: vec!["stand up".into()] }
        );
        assert_eq!(route(&Method::Get, "/v1/rtc/room/get/"), Match::NotFound);
        assert_eq!(route(&Method::Get, "/v1/rtc/room/get/a/b"), Match::NotFound);
    }

    #[test]
    fn wrong_method_lists_allowed() {
        assert_eq!(route(&Method::Post, "/v1/rtc/room/get/x"), Match::WrongMethod { allow: "GET, HEAD".into() });
        assert_eq!(
            route(&Method::Put, "/v1/admin/projects/p/keys"),
            Match::WrongMethod { allow: "POST, GET, HEAD".into() }
        );
        assert_eq!(route(&Method::Get, "/nope"), Match::NotFound);
    }
}
