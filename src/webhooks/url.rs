//! Which URLs may receive webhooks: https in production; never a private, loopback,
//! link-local or otherwise internal address (literal IPs, and names such as `localhost` that
//! always resolve to one). Plain http to a loopback address only where the deployment says it
//! is local development (`WEBHOOK_ALLOW_HTTP_LOOPBACK`).
//!
//! A Worker cannot resolve other names itself; Cloudflare's `fetch` does not reach private
//! networks from a Worker either, so a public name that resolves inward still goes nowhere.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const MAX_URL_BYTES: usize = 2048;

/// The checked URL, or why it is refused (for the client).
pub fn check(url: &str, allow_http_loopback: bool) -> Result<String, String> {
    if url.len() > MAX_URL_BYTES || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("'url' must be a URL of at most 2048 bytes without spaces".into());
    }
    let (scheme, rest) = url.split_once("://").ok_or("'url' must be an https:// URL")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err("'url' must be an https:// URL".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("'url' must not carry user info".into());
    }
    let host = host_of(authority).ok_or("'url' must name a host")?.to_ascii_lowercase();
    let loopback = is_loopback(&host);
    if scheme == "http" && !(allow_http_loopback && loopback) {
        return Err(if allow_http_loopback {
            "'url' must be https (plain http only to a loopback address in local development)".into()
        } else {
            "'url' must be an https:// URL".into()
        });
    }
    if loopback && !allow_http_loopback {
        return Err("'url' must not point at a loopback address".into());
    }
    if !loopback && is_internal(&host) {
        return Err("'url' must not point at a private, link-local or internal address".into());
    }
    Ok(url.to_owned())
}

/// The host of `host[:port]` or `[v6]:port`, without brackets.
fn host_of(authority: &str) -> Option<&str> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        })
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_internal(host: &str) -> bool {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return v4_internal(ip);
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        if let Some(v4) = ip.to_ipv4_mapped() {
            return v4_internal(v4);
        }
        let first = ip.segments()[0];
        return ip.is_unspecified()
            || ip.is_loopback()
            || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
            || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
            || ip.is_multicast();
    }
    // Numeric forms other than dotted quads (`2130706433`, `0x7f.1`, `127.1`) are read as
    // addresses by some resolvers: refuse them rather than guess.
    let numeric = |label: &str| {
        !label.is_empty()
            && (label.bytes().all(|b| b.is_ascii_digit())
                || label.strip_prefix("0x").is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())))
    };
    if host.split('.').all(numeric) {
        return true;
    }
    host.ends_with(".local") || host.ends_with(".internal") || host == "metadata.google.internal"
}

fn v4_internal(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240
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
    fn local_development_allows_http_to_loopback_only() {
        assert!(check("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check("http://localhost:9000/hook", true).is_ok());
        assert!(check("http://[::1]:9000/hook", true).is_ok());
        assert!(check("http://10.0.0.8/hook", true).is_err());
        assert!(check("http://example.com/hook", true).is_err());
        assert!(check("https://169.254.169.254/", true).is_err());
    }
}
