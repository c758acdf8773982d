//! The four ZEGO room actions rtcgate uses: how each request is written and how each
//! answer's `Data` is read. Pure functions; `mod.rs` does the I/O.
//!
//! Every action is `GET {base}/?Action=…&<common params>&<action params>` with all
//! parameters in the query (docs_all `core_products/real-time-voice-video/en/server/api-reference/
//! accessing-server-apis.mdx`, "Request method"; each action's `room/*.yaml` declares `get`).

use std::collections::HashSet;

use serde_json::Value;

use super::signing::{self, Stamp};
use crate::vendors::LiveParticipant;

/// DescribeUserList returns at most 200 users per page (`room/describe-user-list.yaml`).
pub const USER_PAGE_LIMIT: u32 = 200;
/// Why the user was kicked, shown to the kicked client SDK; ZEGO allows 256 bytes.
pub const KICK_REASON: &str = "removed by the server";

/// One action with its own parameters, in the order they are sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub action: &'static str,
    pub params: Vec<(&'static str, String)>,
}

impl Call {
    /// Users in one room. `RoomId[]` is an array parameter (≤ 10 rooms); a room ZEGO does
    /// not know is reported with count 0 (`room/describe-user-num.yaml`).
    pub fn describe_user_num(room_id: &str) -> Call {
        Call { action: "DescribeUserNum", params: vec![("RoomId[]", room_id.to_owned())] }
    }

    /// One page of a room's users, oldest login first (`Mode=0`). The first page has no
    /// `Marker`; later pages pass the one the previous page returned.
    pub fn describe_user_list(room_id: &str, marker: Option<&str>) -> Call {
        let mut params =
            vec![("RoomId", room_id.to_owned()), ("Mode", "0".to_owned()), ("Limit", USER_PAGE_LIMIT.to_string())];
        if let Some(marker) = marker {
            params.push(("Marker", marker.to_owned()));
        }
        Call { action: "DescribeUserList", params }
    }

    /// The status of one user in a room: `UserId[]` is an array parameter (≤ 10 users,
    /// `room/describe-users.yaml`; 10 requests/s per AppID).
    pub fn describe_users(room_id: &str, user_id: &str) -> Call {
        Call { action: "DescribeUsers", params: vec![("RoomId", room_id.to_owned()), ("UserId[]", user_id.to_owned())] }
    }

    /// Kicks one user: `UserId[]` is an array parameter (≤ 5 users, `room/kick-out-user.yaml`).
    pub fn kickout_user(room_id: &str, user_id: &str) -> Call {
        Call {
            action: "KickoutUser",
            params: vec![
                ("RoomId", room_id.to_owned()),
                ("UserId[]", user_id.to_owned()),
                ("CustomReason", KICK_REASON.to_owned()),
            ],
        }
    }

    /// Removes everyone and closes the room (`room/close.yaml`; 1 request/s per AppID).
    pub fn close_room(room_id: &str) -> Call {
        Call { action: "CloseRoom", params: vec![("RoomId", room_id.to_owned())] }
    }

    /// The full signed URL: `Action`, then the common parameters, then the action's own.
    pub fn url(&self, api_base: &str, app_id: u32, server_secret: &str, stamp: &Stamp) -> String {
        let common = signing::common_params(app_id, server_secret, stamp);
        let pairs = std::iter::once(("Action", self.action))
            .chain(common.iter().map(|(k, v)| (*k, v.as_str())))
            .chain(self.params.iter().map(|(k, v)| (*k, v.as_str())));
        format!("{}/?{}", api_base.trim_end_matches('/'), signing::query_string(pairs))
    }
}

/// `Data.UserCountList[{RoomId, UserCount, AdminUserCount}]` → `room_id`'s `UserCount`.
/// `UserCount` already includes admin users (cloud recording, moderation bots). A list
/// without our room means ZEGO has no such room, which it documents as count 0.
pub fn user_count(data: &Value, room_id: &str) -> Result<u32, &'static str> {
    let list = data.get("UserCountList").and_then(Value::as_array).ok_or("Data.UserCountList is not a list")?;
    let Some(entry) = list.iter().find(|e| e.get("RoomId").and_then(Value::as_str) == Some(room_id)) else {
        return Ok(0);
    };
    let count = entry.get("UserCount").and_then(Value::as_u64).ok_or("UserCount is not a count")?;
    u32::try_from(count).map_err(|_| "UserCount is out of range")
}

/// `Data.UserStatusList[{UserId, Status, LoginTime, UserRole}]` → whether `user_id` is in the
/// room: `Status` 1 is in the room, 0 is not (`room/describe-users.yaml`). A user the list
/// leaves out is not in the room.
pub fn user_present(data: &Value, user_id: &str) -> Result<bool, &'static str> {
    let list = data.get("UserStatusList").and_then(Value::as_array).ok_or("Data.UserStatusList is not a list")?;
    let Some(entry) = list.iter().find(|e| e.get("UserId").and_then(Value::as_str) == Some(user_id)) else {
        return Ok(false);
    };
    match entry.get("Status").and_then(Value::as_u64) {
        Some(1) => Ok(true),
        Some(0) => Ok(false),
        _ => Err("a user's Status is not 0 or 1"),
    }
}

/// One DescribeUserList page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserPage {
    pub users: Vec<LiveParticipant>,
    /// Where the next page starts; `None` when this was the last page.
    pub next_marker: Option<String>,
}

/// `Data{Marker, UserList[{UserId, UserName, UserRole}]}` (`room/describe-user-list.yaml`).
/// The list has no login time (only DescribeUsers has `LoginTime`, 10 users per call), so
/// `joined_at_ms` stays unknown. An empty `UserName` is no name.
pub fn user_page(data: &Value) -> Result<UserPage, &'static str> {
    if data.is_null() {
        return Ok(UserPage::default()); // "An empty list is returned if the Room does not exist."
    }
    let users = match data.get("UserList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(user).collect::<Result<_, _>>()?,
        Some(_) => return Err("Data.UserList is not a list"),
    };
    let next_marker = match data.get("Marker") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()).filter(|m| !m.is_empty()),
        Some(_) => return Err("Data.Marker is not a string"),
    };
    Ok(UserPage { users, next_marker })
}

fn user(entry: &Value) -> Result<LiveParticipant, &'static str> {
    let identity =
        entry.get("UserId").and_then(Value::as_str).filter(|id| !id.is_empty()).ok_or("a user has no UserId")?;
    let display_name = entry.get("UserName").and_then(Value::as_str).filter(|n| !n.is_empty()).map(str::to_owned);
    Ok(LiveParticipant { identity: Some(identity.to_owned()), uid: None, display_name, joined_at_ms: None })
}

/// Accumulates pages: drops users already seen (a user who re-logs in between two page
/// requests can appear twice) and decides whether to fetch another page.
#[derive(Debug)]
pub struct UserPaging {
    pub users: Vec<LiveParticipant>,
    seen_users: HashSet<String>,
    seen_markers: HashSet<String>,
    pages: u32,
    max_pages: u32,
}

/// What to do after a page.
#[derive(Debug, PartialEq)]
pub enum Next {
    Fetch(String),
    Done,
    /// Stopped early: the marker repeated or the page budget ran out. The reason is for the log.
    Truncated(&'static str),
}

impl UserPaging {
    pub fn new(max_pages: u32) -> Self {
        UserPaging { users: Vec::new(), seen_users: HashSet::new(), seen_markers: HashSet::new(), pages: 0, max_pages }
    }

    pub fn add(&mut self, page: UserPage) -> Next {
        self.pages += 1;
        for user in page.users {
            let id = user.identity.clone().unwrap_or_default();
            if self.seen_users.insert(id) {
                self.users.push(user);
            }
        }
        match page.next_marker {
            None => Next::Done,
            Some(marker) if !self.seen_markers.insert(marker.clone()) => Next::Truncated("ZEGO repeated a page marker"),
            Some(_) if self.pages >= self.max_pages => Next::Truncated("page limit reached"),
            Some(marker) => Next::Fetch(marker),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "9193cc662a4c0ec135ec71fb57194b38";

    fn stamp() -> Stamp {
        Stamp::new([0x4f, 0xd2, 0x46, 0x87, 0x29, 0x6d, 0xd9, 0xf3], 1615186943)
    }

    const COMMON: &str = "AppId=12345&SignatureNonce=4fd24687296dd9f3&Timestamp=1615186943\
        &Signature=43e5cfcca828314675f91b001390566a&SignatureVersion=2.0";

    #[test]
    fn describe_user_num_url() {
        let url = Call::describe_user_num("rm_1").url("https://rtc-api.zego.im", 12345, SECRET, &stamp());
        assert_eq!(url, format!("https://rtc-api.zego.im/?Action=DescribeUserNum&{COMMON}&RoomId[]=rm_1"));
    }

    #[test]
    fn describe_user_list_urls_with_and_without_marker() {
        let first = Call::describe_user_list("rm_1", None).url("http://127.0.0.1:9/zego/", 12345, SECRET, &stamp());
        assert_eq!(
            first,
            format!("http://127.0.0.1:9/zego/?Action=DescribeUserList&{COMMON}&RoomId=rm_1&Mode=0&Limit=200")
        );
        let next =
            Call::describe_user_list("rm_1", Some("1635940599950-user 2")).url("https://h", 12345, SECRET, &stamp());
        assert_eq!(
            next,
            format!("https://h/?Action=DescribeUserList&{COMMON}&RoomId=rm_1&Mode=0&Limit=200&Marker=1635940599950-user%202")
        );
    }

    #[test]
    fn describe_users_url_and_presence() {
        let url = Call::describe_users("rm_1", "alice@x").url("https://h", 12345, SECRET, &stamp());
        assert_eq!(url, format!("https://h/?Action=DescribeUsers&{COMMON}&RoomId=rm_1&UserId[]=alice%40x"));
        let list = |status: Value| json!({"UserStatusList": [{"UserId": "a", "Status": status, "LoginTime": 1, "UserRole": 1}]});
        assert_eq!(user_present(&list(json!(1)), "a"), Ok(true));
        assert_eq!(user_present(&list(json!(0)), "a"), Ok(false));
        assert_eq!(user_present(&list(json!(1)), "b"), Ok(false));
        assert!(user_present(&list(json!("1")), "a").is_err());
        assert!(user_present(&json!({}), "a").is_err());
    }

    #[test]
    fn kickout_and_close_urls() {
        let kick = Call::kickout_user("rm_1", "alice@x").url("https://h", 12345, SECRET, &stamp());
        assert_eq!(
            kick,
            format!("https://h/?Action=KickoutUser&{COMMON}&RoomId=rm_1&UserId[]=alice%40x&CustomReason=removed%20by%20the%20server")
        );
        let close = Call::close_room("rm_1").url("https://h", 12345, SECRET, &stamp());
        assert_eq!(close, format!("https://h/?Action=CloseRoom&{COMMON}&RoomId=rm_1"));
    }

    #[test]
    fn user_count_reads_our_room() {
        let data = json!({"UserCountList": [
            {"RoomId": "other", "UserCount": 9, "AdminUserCount": 0},
            {"RoomId": "rm_1", "UserCount": 3, "AdminUserCount": 1}
        ]});
        assert_eq!(user_count(&data, "rm_1"), Ok(3));
        assert_eq!(user_count(&data, "rm_2"), Ok(0));
        assert_eq!(user_count(&json!({"UserCountList": []}), "rm_1"), Ok(0));
    }

    #[test]
    fn user_count_refuses_malformed_data() {
        assert!(user_count(&Value::Null, "r").is_err());
        assert!(user_count(&json!({"UserCountList": {}}), "r").is_err());
        assert!(user_count(&json!({"UserCountList": [{"RoomId": "r"}]}), "r").is_err());
        assert!(user_count(&json!({"UserCountList": [{"RoomId": "r", "UserCount": -1}]}), "r").is_err());
        assert!(user_count(&json!({"UserCountList": [{"RoomId": "r", "UserCount": "2"}]}), "r").is_err());
        assert!(user_count(&json!({"UserCountList": [{"RoomId": "r", "UserCount": 5_000_000_000u64}]}), "r").is_err());
    }

    #[test]
    fn user_page_maps_users_and_marker() {
        let data = json!({"Marker": "1635940599950-user2", "UserList": [
            {"UserId": "user1", "UserName": "User One", "UserRole": 1},
            {"UserId": "user2", "UserName": "", "UserRole": 2},
            {"UserId": "user3"}
        ]});
        let page = user_page(&data).unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("1635940599950-user2"));
        let got: Vec<(Option<&str>, Option<&str>)> =
            page.users.iter().map(|u| (u.identity.as_deref(), u.display_name.as_deref())).collect();
        assert_eq!(got, vec![(Some("user1"), Some("User One")), (Some("user2"), None), (Some("user3"), None)]);
        assert!(page.users.iter().all(|u| u.uid.is_none() && u.joined_at_ms.is_none()));

        let last = user_page(&json!({"Marker": "", "UserList": []})).unwrap();
        assert_eq!(last, UserPage::default());
        assert_eq!(user_page(&Value::Null).unwrap(), UserPage::default());
        assert_eq!(user_page(&json!({})).unwrap(), UserPage::default());
    }

    #[test]
    fn user_page_refuses_malformed_data() {
        assert!(user_page(&json!({"UserList": {}})).is_err());
        assert!(user_page(&json!({"UserList": [{"UserName": "x"}]})).is_err());
        assert!(user_page(&json!({"UserList": [{"UserId": 7}]})).is_err());
        assert!(user_page(&json!({"UserList": [{"UserId": ""}]})).is_err());
        assert!(user_page(&json!({"UserList": [], "Marker": 5})).is_err());
    }

    fn page(ids: &[&str], marker: Option<&str>) -> UserPage {
        UserPage {
            users: ids
                .iter()
                .map(|id| LiveParticipant { identity: Some(id.to_string()), ..Default::default() })
                .collect(),
            next_marker: marker.map(str::to_owned),
        }
    }

    #[test]
    fn paging_follows_markers_and_deduplicates() {
        let mut paging = UserPaging::new(50);
        assert_eq!(paging.add(page(&["a", "b"], Some("m1"))), Next::Fetch("m1".into()));
        assert_eq!(paging.add(page(&["b", "c"], None)), Next::Done);
        let ids: Vec<_> = paging.users.iter().map(|u| u.identity.clone().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn paging_stops_on_a_repeated_marker_or_the_page_budget() {
        let mut looping = UserPaging::new(50);
        assert_eq!(looping.add(page(&["a"], Some("m"))), Next::Fetch("m".into()));
        assert!(matches!(looping.add(page(&["a"], Some("m"))), Next::Truncated(_)));

        let mut bounded = UserPaging::new(3);
        assert_eq!(bounded.add(page(&["a"], Some("1"))), Next::Fetch("1".into()));
        assert_eq!(bounded.add(page(&["b"], Some("2"))), Next::Fetch("2".into()));
        assert!(matches!(bounded.add(page(&["c"], Some("3"))), Next::Truncated(_)));
        assert_eq!(bounded.users.len(), 3);
    }
}
