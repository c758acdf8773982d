//! Live streams out: a room composited and pushed to RTMP(S) ingests (YouTube, Twitch, any
//! RTMP server). The values a stream is made of, the rule for an ingest URL (and how it is
//! shown: its stream key masked), and the layout engine for vendors that take one rectangle
//! per publisher (Agora Media Push, ZEGO stream mixing). Plain data and pure functions.

use serde_json::{json, Value};

use super::net_policy::{self, Reach, Url};
use super::recording::RecordingStatus;

/// The most outputs one stream pushes to.
pub const MAX_OUTPUTS: usize = 5;
/// The longest ingest URL (Agora's `rtmpUrl` limit).
pub const MAX_URL_CHARS: usize = 1024;
/// The most publishers a composed layout shows (ZEGO mixes at most 9 inputs by default);
/// the earliest publishers are shown.
pub const MAX_LAYOUT_INPUTS: usize = 9;
/// What a masked stream key keeps visible.
const VISIBLE_KEY_CHARS: usize = 4;
const MASK: &str = "••••";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamStatus {
    Starting,
    Active,
    Ending,
    Ended,
    Failed,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Starting => "starting",
            StreamStatus::Active => "active",
            StreamStatus::Ending => "ending",
            StreamStatus::Ended => "ended",
            StreamStatus::Failed => "failed",
        }
    }

    pub const ALL: [StreamStatus; 5] =
        [StreamStatus::Starting, StreamStatus::Active, StreamStatus::Ending, StreamStatus::Ended, StreamStatus::Failed];

    pub fn parse(s: &str) -> Option<StreamStatus> {
        StreamStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, StreamStatus::Ended | StreamStatus::Failed)
    }

    /// A stream's status from the status of the vendor job behind it, where that job is the
    /// same kind as a recording's (a LiveKit egress: its webhooks and answers).
    pub fn of_job(status: RecordingStatus) -> StreamStatus {
        match status {
            RecordingStatus::Starting => StreamStatus::Starting,
            RecordingStatus::Active => StreamStatus::Active,
            RecordingStatus::Stopping => StreamStatus::Ending,
            RecordingStatus::Complete | RecordingStatus::Aborted => StreamStatus::Ended,
            RecordingStatus::Failed | RecordingStatus::LimitReached => StreamStatus::Failed,
        }
    }

    /// How far along its life a stream is: a vendor's notification may move it forward, never
    /// back (notifications arrive late, twice and out of order).
    fn progress(self) -> u8 {
        match self {
            StreamStatus::Starting => 0,
            StreamStatus::Active => 1,
            StreamStatus::Ending => 2,
            StreamStatus::Ended | StreamStatus::Failed => 3,
        }
    }

    pub fn is_ahead_of(self, other: StreamStatus) -> bool {
        self.progress() > other.progress()
    }

    /// The status of a stream pushed by one vendor job per output (Agora's converters): live
    /// while any output pushes, over once every output is, failed when every one failed.
    /// `None` while some output is still starting and none pushes.
    pub fn of_outputs(outputs: &[OutputStatus]) -> Option<StreamStatus> {
        if outputs.contains(&OutputStatus::Active) {
            Some(StreamStatus::Active)
        } else if outputs.is_empty() || outputs.contains(&OutputStatus::Starting) {
            None
        } else if outputs.iter().all(|o| *o == OutputStatus::Failed) {
            Some(StreamStatus::Failed)
        } else {
            Some(StreamStatus::Ended)
        }
    }
}

/// One ingest's state within a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStatus {
    Starting,
    Active,
    Failed,
    Ended,
}

impl OutputStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStatus::Starting => "starting",
            OutputStatus::Active => "active",
            OutputStatus::Failed => "failed",
            OutputStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<OutputStatus> {
        [OutputStatus::Starting, OutputStatus::Active, OutputStatus::Failed, OutputStatus::Ended]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, OutputStatus::Failed | OutputStatus::Ended)
    }

    /// As `StreamStatus::is_ahead_of`: an output that failed or ended stays so.
    pub fn is_ahead_of(self, other: OutputStatus) -> bool {
        let progress = |s| match s {
            OutputStatus::Starting => 0,
            OutputStatus::Active => 1,
            OutputStatus::Failed | OutputStatus::Ended => 2,
        };
        progress(self) > progress(other)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every publisher in equal cells, rows filled left to right.
    Grid,
    /// The first publisher large on the left, the others in a column on the right.
    Speaker,
    /// The first publisher alone, on the whole canvas.
    Single,
}

impl Layout {
    pub const NAMES: [&'static str; 3] = ["grid", "speaker", "single"];

    pub fn parse(s: &str) -> Option<Layout> {
        match s {
            "grid" => Some(Layout::Grid),
            "speaker" => Some(Layout::Speaker),
            "single" => Some(Layout::Single),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Grid => "grid",
            Layout::Speaker => "speaker",
            Layout::Single => "single",
        }
    }
}

/// The encoded picture: size in pixels, frame rate, video bitrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

impl Canvas {
    /// 720p at 30 fps, 3 Mbps: within Agora's HD push class and YouTube's 720p30 advice.
    pub const DEFAULT: Canvas = Canvas { width: 1280, height: 720, fps: 30, bitrate_kbps: 3000 };

    pub fn to_json(self) -> Value {
        json!({"width": self.width, "height": self.height, "fps": self.fps, "bitrate_kbps": self.bitrate_kbps})
    }

    pub fn from_json(v: &Value) -> Option<Canvas> {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
        Some(Canvas { width: n("width")?, height: n("height")?, fps: n("fps")?, bitrate_kbps: n("bitrate_kbps")? })
    }
}

/// Why an ingest URL is refused, in words for the client (the caller names the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Outside the documented form (`INGEST_URL_PATTERN`).
    Form,
    NotUrl,
    TooLong,
    Scheme,
    UserInfo,
    NoKey,
    NotPublic,
}

impl UrlRefusal {
    pub fn why(self) -> &'static str {
        match self {
            UrlRefusal::Form => {
                "must be rtmp:// or rtmps://, a host name (letters, digits and '-', not an IP address), an optional \
                 port, then a path of visible ASCII ending in the stream key (no '?', '#' or '%')"
            }
            UrlRefusal::NotUrl => "must be an rtmp:// or rtmps:// URL without spaces",
            UrlRefusal::TooLong => "must be at most 1024 characters",
            UrlRefusal::Scheme => "must be an rtmp:// or rtmps:// URL",
            UrlRefusal::UserInfo => "must not carry user info",
            UrlRefusal::NoKey => "must end in the stream key (rtmp://host/app/key)",
            UrlRefusal::NotPublic => "must name a public host (not loopback, private or internal)",
        }
    }
}

/// The form of an ingest URL the OpenAPI document states: `rtmp` or `rtmps`, a host name of
/// letters, digits and `-` whose last label starts with a letter (so never an IP literal, in
/// any notation), an optional port, and a path of visible ASCII (no `?`, `#` or `%`) whose last
/// segment, the stream key, is not empty and not only dots (`.` and `..` are path steps, not
/// keys). `has_documented_form` is this pattern.
pub const INGEST_URL_PATTERN: &str = r#"^[rR][tT][mM][pP][sS]?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(/[!-"$&-.0->@-~]*)*/[!-"$&-.0->@-~]*[!-"$&-,0->@-~-][!-"$&-.0->@-~]*$"#;

/// Whether `url` matches `INGEST_URL_PATTERN`.
fn has_documented_form(url: &str) -> bool {
    let Some(end) = url.find("://") else { return false };
    if !(url[..end].eq_ignore_ascii_case("rtmp") || url[..end].eq_ignore_ascii_case("rtmps")) {
        return false;
    }
    let rest = &url[end + 3..];
    let Some(slash) = rest.find('/') else { return false };
    let (authority, path) = rest.split_at(slash);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    // A port is 0 to 65535, as the pattern spells it.
    if port.is_some_and(|p| {
        p.is_empty()
            || p.len() > 5
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u32>().map_or(true, |n| n > 65_535)
    }) {
        return false;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let host_ok =
        host.split('.').all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            && host.rsplit('.').next().is_some_and(|last| last.as_bytes().first().is_some_and(u8::is_ascii_alphabetic));
    let key = path.rsplit('/').next().unwrap_or("");
    let path_ok = path.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%'))
        && key.bytes().any(|b| b != b'.');
    host_ok && path_ok
}

/// `raw` as an ingest URL: the documented form, a public host, a path ending in the stream
/// key. The host is judged the way every tenant URL is (`net_policy`: the URL is
/// parsed as its http(s) twin, so every spelling of an address is the address it spells),
/// and the URL passed on is that parsed form with its own scheme and port: what was checked
/// is what the vendor is given.
pub fn parse_ingest_url(raw: &str) -> Result<String, UrlRefusal> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(UrlRefusal::TooLong);
    }
    if !has_documented_form(raw) {
        return Err(UrlRefusal::Form);
    }
    let scheme_end = raw.find("://").ok_or(UrlRefusal::NotUrl)?;
    let scheme = raw[..scheme_end].to_ascii_lowercase();
    let twin = match scheme.as_str() {
        "rtmp" => "http",
        "rtmps" => "https",
        _ => return Err(UrlRefusal::Scheme),
    };
    // RTMP has its own default port (1935): the port written is kept as written, even the
    // one that is http's default.
    let as_written = Url::parse(raw).map_err(|_| UrlRefusal::NotUrl)?;
    let parsed = net_policy::parse_http_url(&format!("{twin}{}", &raw[scheme_end..])).map_err(|r| match r {
        net_policy::Refusal::UserInfo => UrlRefusal::UserInfo,
        _ => UrlRefusal::NotUrl,
    })?;
    if net_policy::url_reach(&parsed) != Reach::Public {
        return Err(UrlRefusal::NotPublic);
    }
    if parsed.fragment().is_some() {
        return Err(UrlRefusal::NotUrl);
    }
    let key = parsed.path().rsplit('/').next().unwrap_or("");
    if key.is_empty() {
        return Err(UrlRefusal::NoKey);
    }
    let host = parsed.host_str().ok_or(UrlRefusal::NotUrl)?;
    let port = as_written.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}{}{query}", parsed.path()))
}

/// An ingest URL as it may be shown: everything after the last `/` (the stream key, and any
/// query) masked but its last four characters (`rtmps://a.rtmp.youtube.com/live2/••••1a2b`).
pub fn mask_url(url: &str) -> String {
    let cut = url.rfind('/').map_or(0, |i| i + 1);
    let (head, key) = url.split_at(cut);
    let chars: Vec<char> = key.chars().collect();
    let visible: String = if chars.len() > 2 * VISIBLE_KEY_CHARS {
        chars[chars.len() - VISIBLE_KEY_CHARS..].iter().collect()
    } else {
        // A key this short would be mostly shown by its last four: none of it is.
        String::new()
    };
    format!("{head}{MASK}{visible}")
}

/// One output as a vendor is asked to push it. `Debug` leaves the URL (its key) out.
#[derive(Clone, PartialEq)]
pub struct OutputTarget {
    /// Our id for it within the stream (`o1`, `o2`, …).
    pub output: String,
    pub url: String,
    /// The vendor's own handle for this output, where it has one per output (Agora's
    /// converter id).
    pub vendor_ref: Option<String>,
}

impl std::fmt::Debug for OutputTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputTarget")
            .field("output", &self.output)
            .field("url", &mask_url(&self.url))
            .field("vendor_ref", &self.vendor_ref)
            .finish()
    }
}

/// A publisher's rectangle on the canvas, in pixels from the top left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The vendor's key for the publisher (Agora uid, ZEGO stream id).
    pub publisher: String,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// Stacking order, higher on top.
    pub z: u32,
}

/// Everything a vendor needs to start, change or stop a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSpec {
    pub stream_id: String,
    pub room_id: String,
    pub layout: Layout,
    pub audio_only: bool,
    pub canvas: Canvas,
    pub outputs: Vec<OutputTarget>,
    /// The composed layout, for vendors that do not compose the room themselves.
    pub regions: Vec<Region>,
    /// Increases with every call that changes the stream (Agora's `sequence`, ZEGO's
    /// `Sequence`): the vendor keeps the highest.
    pub seq: u64,
}

/// One output as the vendor reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputState {
    pub output: String,
    pub status: OutputStatus,
    pub error: Option<String>,
    pub vendor_ref: Option<String>,
    /// The vendor answered that it has no such job, which is not yet proof that it ended:
    /// Agora answers 404 for a converter that is moving servers too (see `MISSING_GRACE_MS`).
    pub missing: bool,
}

impl OutputState {
    /// `target` no longer pushing, its vendor handle kept for the record.
    pub fn ended(target: &OutputTarget) -> OutputState {
        OutputState {
            output: target.output.clone(),
            status: OutputStatus::Ended,
            error: None,
            vendor_ref: target.vendor_ref.clone(),
            missing: false,
        }
    }

    /// `target`'s job not found at the vendor: ended, unless it is found again within
    /// `MISSING_GRACE_MS` of the first time it was missed.
    pub fn missing(target: &OutputTarget) -> OutputState {
        OutputState { missing: true, ..OutputState::ended(target) }
    }
}

/// How long an output whose job the vendor says it does not have is still taken to run. Agora
/// answers 404 both for a converter that is gone and for one mid-failover, and a failover
/// migration takes at most 120 s.
pub const MISSING_GRACE_MS: i64 = 120_000;

/// A stream as the vendor reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamState {
    /// LiveKit's egress id; Agora's and ZEGO's handle is the stream id itself.
    pub vendor_stream_id: String,
    pub status: StreamStatus,
    /// Only the outputs the vendor said something about.
    pub outputs: Vec<OutputState>,
    pub error: Option<String>,
}

/// What a vendor reports of one URL its job pushes to, in our words.
#[derive(Clone, Debug, PartialEq)]
pub struct PushResult {
    /// As the vendor shows it (possibly with its key redacted).
    pub url: String,
    pub status: OutputStatus,
    pub error: Option<String>,
}

/// The output the vendor's report `reports[i]` is about: the output pushing to its URL, or,
/// where the vendor shows the URL redacted, the output at its position. Position says nothing
/// once reports and outputs differ in number (a removed URL keeps its report), nor for an
/// output another report names.
pub fn reported_output<'a>(targets: &'a [OutputTarget], reports: &[PushResult], i: usize) -> Option<&'a OutputTarget> {
    let url = &reports.get(i)?.url;
    targets.iter().find(|o| &o.url == url).or_else(|| {
        let at = targets.get(i)?;
        (reports.len() == targets.len() && !reports.iter().any(|r| r.url == at.url)).then_some(at)
    })
}

/// What a vendor's notification says of the job behind a live stream, read before it is
/// matched to a stream of ours.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamNotice {
    pub vendor: &'static str,
    pub job: StreamJob,
    pub occurred_at_ms: u64,
    /// The whole stream's new status (a LiveKit egress, a ZEGO mix task).
    pub status: Option<StreamStatus>,
    /// One output's new status (an Agora converter).
    pub output_status: Option<OutputStatus>,
    /// What a job pushing to every output reports of each URL (a LiveKit egress), in order.
    pub pushes: Vec<PushResult>,
    /// Why it failed, in our words.
    pub error: Option<String>,
}

/// How a notification names the job it is about.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamJob {
    /// The vendor's handle for a whole stream in one of its rooms: a LiveKit egress id, or a
    /// ZEGO mix task id (which is our stream id).
    Stream { vendor_room: String, vendor_stream_id: String },
    /// One output's job, named by us: an Agora converter `{stream}_{output}` with its id.
    Output { stream: String, output: String, vendor_ref: String },
    /// One output's job known only by the vendor's handle (an Agora converter id).
    OutputRef(String),
}

/// A change in who publishes, read from a vendor event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputChange {
    Publishing(String),
    Stopped(String),
}

/// Who publishes after `changes` (oldest first), in the order they started: a publisher
/// keeps their place until they stop, and one who comes back goes to the end.
pub fn publishers(changes: impl IntoIterator<Item = InputChange>) -> Vec<String> {
    let mut now: Vec<String> = Vec::new();
    for change in changes {
        match change {
            InputChange::Publishing(p) => {
                if !now.contains(&p) {
                    now.push(p);
                }
            }
            InputChange::Stopped(p) => now.retain(|q| q != &p),
        }
    }
    now
}

/// The rectangles of `layout` for `publishers` (in the order they started) on `canvas`.
/// Edges are even numbers (ZEGO takes only even sizes), and cells tile the canvas without
/// overlap; at most `MAX_LAYOUT_INPUTS` publishers are shown.
pub fn regions(layout: Layout, canvas: Canvas, publishers: &[String]) -> Vec<Region> {
    let shown = &publishers[..publishers.len().min(MAX_LAYOUT_INPUTS)];
    let even = |n: u32| n & !1;
    let region = |p: &String, x: u32, y: u32, w: u32, h: u32| Region {
        publisher: p.clone(),
        x: even(x),
        y: even(y),
        width: even(w),
        height: even(h),
        z: 1,
    };
    let (w, h) = (canvas.width, canvas.height);
    match (layout, shown) {
        (_, []) => Vec::new(),
        (Layout::Single, [first, ..]) | (Layout::Speaker, [first]) => vec![region(first, 0, 0, w, h)],
        (Layout::Speaker, [first, rest @ ..]) => {
            let main_w = w * 3 / 4;
            let side_w = w - even(main_w);
            let side_h = h / rest.len() as u32;
            let mut all = vec![region(first, 0, 0, main_w, h)];
            all.extend(
                rest.iter().enumerate().map(|(i, p)| region(p, even(main_w), i as u32 * side_h, side_w, side_h)),
            );
            all
        }
        (Layout::Grid, all) => {
            let n = all.len() as u32;
            let cols = (1..=n).find(|c| c * c >= n).unwrap_or(1);
            let rows = n.div_ceil(cols);
            let (cell_w, cell_h) = (w / cols, h / rows);
            all.iter()
                .enumerate()
                .map(|(i, p)| {
                    let (col, row) = (i as u32 % cols, i as u32 / cols);
                    region(p, col * cell_w, row * cell_h, cell_w, cell_h)
                })
                .collect()
        }
    }
}

/// A one-output stream of `layout` over `publishers`, at sequence `seq`: what vendor tests start,
/// update and re-lay out.
#[cfg(test)]
pub(crate) fn example_spec(layout: Layout, publishers: &[&str], seq: u64) -> StreamSpec {
    let publishers: Vec<String> = publishers.iter().map(|p| (*p).to_owned()).collect();
    StreamSpec {
        stream_id: "str_1".into(),
        room_id: "rm_1".into(),
        layout,
        audio_only: false,
        canvas: Canvas::DEFAULT,
        outputs: vec![OutputTarget { output: "o1".into(), url: "rtmp://a.example.com/l/k".into(), vendor_ref: None }],
        regions: regions(layout, Canvas::DEFAULT, &publishers),
        seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_urls_keep_their_scheme_port_and_key() {
        for (raw, kept) in [
            ("rtmps://a.rtmp.youtube.com/live2/abcd-efgh-1a2b", "rtmps://a.rtmp.youtube.com/live2/abcd-efgh-1a2b"),
            ("rtmp://live.twitch.tv/app/live_123_abc", "rtmp://live.twitch.tv/app/live_123_abc"),
            ("RTMP://Live.Example.com:1935/app/key", "rtmp://live.example.com:1935/app/key"),
            ("rtmp://live.example.com./app/key", "rtmp://live.example.com./app/key"),
            ("rtmp://live.example.com/a/../b/.key.", "rtmp://live.example.com/b/.key."),
            // http's default port is not RTMP's: it stays.
            ("rtmp://live.example.com:80/app/key", "rtmp://live.example.com:80/app/key"),
            ("rtmps://live.example.com:443/app/key", "rtmps://live.example.com:443/app/key"),
        ] {
            assert_eq!(parse_ingest_url(raw).as_deref(), Ok(kept), "{raw}");
        }
    }

    #[test]
    fn ingest_urls_to_private_hosts_or_other_schemes_are_refused() {
        for (raw, why) in [
            ("https://live.example.com/app/key", UrlRefusal::Form),
            ("srt://live.example.com/app/key", UrlRefusal::Form),
            ("live.example.com/app/key", UrlRefusal::Form),
            // IP literals, in any notation, are outside the form.
            ("rtmp://8.8.8.8/app/key", UrlRefusal::Form),
            ("rtmp://127.0.0.1/app/key", UrlRefusal::Form),
            ("rtmp://2130706433/app/key", UrlRefusal::Form),
            ("rtmp://0x7f.1/app/key", UrlRefusal::Form),
            ("rtmp://[::1]/app/key", UrlRefusal::Form),
            ("rtmp://live.example.com:99999/app/key", UrlRefusal::Form),
            // Names that can only be internal are in the form, and refused for where they lead.
            ("rtmp://localhost/app/key", UrlRefusal::NotPublic),
            ("rtmp://a.localhost/app/key", UrlRefusal::NotPublic),
            ("rtmp://minio/app/key", UrlRefusal::NotPublic),
            ("rtmp://ingest.internal/app/key", UrlRefusal::NotPublic),
            ("rtmp://user:pw@live.example.com/app/key", UrlRefusal::Form),
            ("rtmp://live.example.com/app/", UrlRefusal::Form),
            ("rtmp://live.example.com", UrlRefusal::Form),
            ("rtmp://live.example.com/app/key#x", UrlRefusal::Form),
            ("rtmp://live.example.com/app/key?x=1", UrlRefusal::Form),
            ("rtmp://live.example.com/app/ke y", UrlRefusal::Form),
            // `.` and `..` are path steps, not keys; `%` would let one be spelled `%2e%2e`.
            ("rtmp://live.example.com/app/..", UrlRefusal::Form),
            ("rtmp://live.example.com/app/.", UrlRefusal::Form),
            ("rtmp://live.example.com/app/%2e%2e", UrlRefusal::Form),
        ] {
            assert_eq!(parse_ingest_url(raw), Err(why), "{raw}");
        }
        let long = format!("rtmp://live.example.com/app/{}", "k".repeat(1024));
        assert_eq!(parse_ingest_url(&long), Err(UrlRefusal::TooLong));
    }

    #[test]
    fn masked_urls_show_only_the_last_four_of_the_key() {
        assert_eq!(
            mask_url("rtmps://a.rtmp.youtube.com/live2/abcd-efgh-1a2b"),
            "rtmps://a.rtmp.youtube.com/live2/••••1a2b"
        );
        assert_eq!(mask_url("rtmp://h.example.com/app/key-token-secret99"), "rtmp://h.example.com/app/••••et99");
        assert_eq!(mask_url("rtmp://h.example.com/app/short123"), "rtmp://h.example.com/app/••••");
        let target =
            OutputTarget { output: "o1".into(), url: "rtmp://h.example.com/app/topsecretkey".into(), vendor_ref: None };
        let shown = format!("{target:?}");
        assert!(!shown.contains("topsecret") && shown.contains("••••tkey"), "{shown}");
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn publishers_follow_events_in_order() {
        use InputChange::*;
        let seq = [
            Publishing("a".into()),
            Publishing("b".into()),
            Publishing("a".into()),
            Publishing("c".into()),
            Stopped("a".into()),
            Stopped("zz".into()),
            Publishing("a".into()),
        ];
        assert_eq!(publishers(seq), names(&["b", "c", "a"]));
        assert!(publishers([Publishing("x".into()), Stopped("x".into())]).is_empty());
    }

    fn covered(regions: &[Region], canvas: Canvas) -> bool {
        regions.iter().all(|r| r.x + r.width <= canvas.width && r.y + r.height <= canvas.height)
    }

    fn overlap(a: &Region, b: &Region) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    #[test]
    fn grid_tiles_the_canvas_in_equal_even_cells() {
        let c = Canvas::DEFAULT;
        assert!(regions(Layout::Grid, c, &[]).is_empty());
        let one = regions(Layout::Grid, c, &names(&["a"]));
        assert_eq!(one, vec![Region { publisher: "a".into(), x: 0, y: 0, width: 1280, height: 720, z: 1 }]);
        let three = regions(Layout::Grid, c, &names(&["a", "b", "c"]));
        let boxes: Vec<_> = three.iter().map(|r| (r.publisher.as_str(), r.x, r.y, r.width, r.height)).collect();
        assert_eq!(boxes, vec![("a", 0, 0, 640, 360), ("b", 640, 0, 640, 360), ("c", 0, 360, 640, 360)]);
        for n in 1..=12 {
            let who: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
            let all = regions(Layout::Grid, Canvas { width: 1918, height: 1078, fps: 30, bitrate_kbps: 1 }, &who);
            assert_eq!(all.len(), n.min(MAX_LAYOUT_INPUTS));
            assert!(all.iter().all(|r| r.x % 2 == 0 && r.y % 2 == 0 && r.width % 2 == 0 && r.height % 2 == 0));
            assert!(covered(&all, Canvas { width: 1918, height: 1078, fps: 30, bitrate_kbps: 1 }));
            for (i, a) in all.iter().enumerate() {
                assert!(all[i + 1..].iter().all(|b| !overlap(a, b)), "{n}: {all:?}");
            }
        }
    }

    #[test]
    fn speaker_puts_the_first_publisher_large_and_single_shows_only_them() {
        let c = Canvas::DEFAULT;
        let two = regions(Layout::Speaker, c, &names(&["a", "b", "c"]));
        let boxes: Vec<_> = two.iter().map(|r| (r.publisher.as_str(), r.x, r.y, r.width, r.height)).collect();
        assert_eq!(boxes, vec![("a", 0, 0, 960, 720), ("b", 960, 0, 320, 360), ("c", 960, 360, 320, 360)]);
        assert_eq!(regions(Layout::Speaker, c, &names(&["a"]))[0].width, 1280);
        let single = regions(Layout::Single, c, &names(&["b", "c"]));
        assert_eq!(single, vec![Region { publisher: "b".into(), x: 0, y: 0, width: 1280, height: 720, z: 1 }]);
        assert!(covered(&two, c));
    }
}
