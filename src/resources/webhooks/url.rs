//! Which URLs may receive webhooks: https in production; never a loopback, private,
//! link-local or otherwise internal host, however it is spelled (`net_policy` parses the URL
//! the WHATWG way and judges the parsed host). Plain http to a loopback address only where the
//! deployment says it is local development (`WEBHOOK_ALLOW_HTTP_LOOPBACK`).

use crate::domain::net_policy::{self, Reach};

pub const MAX_URL_BYTES: usize = 2048;

/// Why a webhook URL is refused, in words for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a URL the parser takes, too long, or not of a scheme deliveries use.
    Malformed(String),
    /// A URL whose host deliveries may not go to (`net_policy`: loopback, private, internal).
    NotAllowed(String),
}

impl Refusal {
    pub fn why(&self) -> &str {
        match self {
            Refusal::Malformed(why) | Refusal::NotAllowed(why) => why,
        }
    }
}

/// The URL to store and call (the parsed URL, serialized), or why it is refused.
pub fn check(raw: &str, allow_http_loopback: bool) -> Result<String, Refusal> {
    let too_long =
        || Refusal::Malformed(format!("'url' must be a URL of at most {MAX_URL_BYTES} bytes without spaces"));
    if raw.len() > MAX_URL_BYTES {
        return Err(too_long());
    }
    let url =
        net_policy::parse_http_url(raw).map_err(|refusal| Refusal::Malformed(format!("'url' {}", refusal.why())))?;
    // The host first: every spelling of an internal address gets the same answer, whatever
    // its scheme.
    let reach = net_policy::url_reach(&url);
    if reach == Reach::Internal || (reach == Reach::Loopback && !allow_http_loopback) {
        return Err(Refusal::NotAllowed(
            "'url' must not point at a loopback, private, link-local or otherwise internal address".into(),
        ));
    }
    if url.scheme() == "http" && reach != Reach::Loopback {
        return Err(Refusal::Malformed(if allow_http_loopback {
            "'url' must be https (plain http only to a loopback address in local development)".into()
        } else {
            "'url' must be an https:// URL".into()
        }));
    }
    let url = String::from(url);
    if url.len() > MAX_URL_BYTES {
        return Err(too_long());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_takes_public_https_only() {
        assert!(check("https://hooks.example.com/rtc?x=1", false).is_ok());
        assert!(check("https://93.184.216.34:8443/h", false).is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://localhost/",
            "https://api.localhost/",
            "https://127.0.0.1/",
            "https://10.0.0.8/",
            "https://172.16.4.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://printer.local/",
            "https:///path",
            "not a url",
        ] {
            assert!(check(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_spelling_of_an_internal_host_is_refused_like_the_dotted_quad() {
        let loopback = check("https://127.0.0.1/", false).unwrap_err();
        for raw in [
            "http://2130706433/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
            "https://127.1/",
            "https://127.0.0.1./",
            "https://%31%32%37.0.0.1/",
            "https://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://localhost./",
            "https://169.254.169.254/",
            "https://0xa9fea9fe/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:a9fe:a9fe::]/",
            "https://[fd00:ec2::254]/",
            "https://metadata.google.internal/",
        ] {
            assert_eq!(check(raw, false), Err(loopback.clone()), "{raw}");
        }
        for junk in ["https://127.0.0.1:443junk/", "https://127.0.0.1%00/", "https://1.2.3.4.5/", "https://[::1/"] {
            assert!(check(junk, false).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_url_the_parser_refuses_is_malformed_and_an_internal_host_is_not_allowed() {
        for raw in ["https://hooks.example.com:99999/x", "https://xn--a/", "not a url", "http://hooks.example.com/"] {
            assert!(matches!(check(raw, false), Err(Refusal::Malformed(_))), "{raw}: {:?}", check(raw, false));
        }
        for raw in ["https://localhost/", "https://printer.local/", "https://127.0.0.1/", "https://[fd00::1]/"] {
            assert!(matches!(check(raw, false), Err(Refusal::NotAllowed(_))), "{raw}: {:?}", check(raw, false));
        }
    }

    #[test]
    fn the_parsed_url_is_what_is_stored() {
        assert_eq!(
            check("https://hooks.example.com/rtc?x=1", false).as_deref(),
            Ok("https://hooks.example.com/rtc?x=1")
        );
        assert_eq!(check("HTTPS://Hooks.Example.com:443/a", false).as_deref(), Ok("https://hooks.example.com/a"));
        assert_eq!(check("https://bücher.example/h", false).as_deref(), Ok("https://xn--bcher-kva.example/h"));
        assert_eq!(check("http://127.0.0.1:9000/hook", true).as_deref(), Ok("http://127.0.0.1:9000/hook"));
        assert!(check(&format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES)), false).is_err());
    }

    #[test]
    fn local_development_allows_http_to_loopback_only() {
        assert!(check("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check("http://localhost:9000/hook", true).is_ok());
        assert!(check("http://[::1]:9000/hook", true).is_ok());
        assert!(check("http://10.0.0.8/hook", true).is_err());
        assert!(check("http://example.com/hook", true).is_err());
        assert!(check("https://169.254.169.254/", true).is_err());
        assert!(check("http://2130706433:9000/hook", true).is_ok(), "loopback however spelled");
        assert!(check("http://0x0a000008/hook", true).is_err());
        assert!(check("http://[::ffff:10.0.0.8]/hook", true).is_err());
    }
}
