//! Which hosts a tenant may make us (or the vendors' recorders) call: the one place that
//! parses a tenant's URL and classifies its host. Used by webhook endpoints
//! (`webhooks::url`) and by the S3-compatible `endpoint` of a project's own destination.
//!
//! A URL is parsed the WHATWG way (the `url` crate, the parser `fetch` itself uses), and the
//! *parsed* host is judged, so every spelling of an address (`2130706433`, `0177.0.0.1`,
//! `0x7f.1`, `127.1`, `%31%32%37.0.0.1`, full-width digits, a trailing dot) is the address it
//! spells. Callers pass on the serialized parsed URL, never the tenant's text: what was
//! checked is what gets called, whatever parser the caller on the other end uses.
//!
//! Names cannot be resolved here (a Worker has no DNS); names that always mean this machine
//! or a private network (`localhost`, `*.localhost`, a name without a dot, `*.local`,
//! `*.internal`, …) are refused by name, and Cloudflare's `fetch` does not reach private
//! networks from a Worker. A public name that resolves to an internal address cannot be told
//! apart here: the vendors' recorders need their own egress rules for that.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use url::Url;

/// Where a host leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// This machine: `localhost`, 127.0.0.0/8, `::1` (and their embedded forms).
    Loopback,
    /// Not the public internet: private, link-local, CGNAT, multicast, reserved,
    /// documentation, benchmarking, unspecified, broadcast, internal names.
    Internal,
    Public,
}

/// Why a URL is refused, in words for the client (the caller names the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a URL the WHATWG parser accepts, or spaces/control characters in it.
    NotUrl,
    /// A scheme other than http/https.
    Scheme,
    UserInfo,
    NoHost,
}

impl Refusal {
    pub fn why(self) -> &'static str {
        match self {
            Refusal::NotUrl => "must be a URL without spaces",
            Refusal::Scheme => "must be an https:// URL",
            Refusal::UserInfo => "must not carry user info",
            Refusal::NoHost => "must name a host",
        }
    }
}

/// `raw` parsed as an http(s) URL with a host and no user info. Spaces and control
/// characters are refused rather than stripped (the parser would silently drop tabs and
/// newlines, so the URL called would differ from the one the tenant sees).
pub fn parse_http_url(raw: &str) -> Result<Url, Refusal> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Refusal::NotUrl);
    }
    let url = Url::parse(raw).map_err(|_| Refusal::NotUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::UserInfo);
    }
    if url.host().is_none() {
        return Err(Refusal::NoHost);
    }
    Ok(url)
}

/// Where the parsed host of `url` leads (`Internal` for a URL without one).
pub fn url_reach(url: &Url) -> Reach {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ipv4_reach(ip),
        Some(url::Host::Ipv6(ip)) => ipv6_reach(ip),
        Some(url::Host::Domain(name)) => name_reach(name),
        None => Reach::Internal,
    }
}

pub fn ip_reach(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(ip) => ipv4_reach(ip),
        IpAddr::V6(ip) => ipv6_reach(ip),
    }
}

/// A name as the parser leaves it (lowercase, punycode). Only names that can never be a
/// public host are judged; the rest are public as far as a Worker can tell.
fn name_reach(name: &str) -> Reach {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let under = |zone: &str| name == zone || name.ends_with(&format!(".{zone}"));
    if under("localhost") || name == "localhost.localdomain" || name == "ip6-localhost" {
        return Reach::Loopback;
    }
    // A name without a dot is completed by the resolver's search list: inside a vendor's
    // cluster `minio` or `redis` is one of its own services. mDNS (`.local`), cloud-internal
    // names (`metadata.google.internal`, `*.internal`), cluster services (`*.svc`), `home.arpa`
    // (RFC 8375), the reverse zones and the private-use names ICANN will not delegate (`lan`,
    // `home`, `corp`, `intranet`, `private`): none is reachable from outside.
    const ZONES: [&str; 12] = [
        "local",
        "internal",
        "localdomain",
        "svc",
        "home.arpa",
        "in-addr.arpa",
        "ip6.arpa",
        "lan",
        "home",
        "corp",
        "intranet",
        "private",
    ];
    if !name.contains('.') || ZONES.iter().any(|z| under(z)) {
        return Reach::Internal;
    }
    Reach::Public
}

/// IPv4 by the IANA special-purpose registry: only globally routed unicast is public.
fn ipv4_reach(ip: Ipv4Addr) -> Reach {
    if ip.is_loopback() {
        return Reach::Loopback;
    }
    let [a, b, c, _] = ip.octets();
    let internal = a == 0 // "this network" and 0.0.0.0
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT) 100.64/10
        || ip.is_link_local() // 169.254/16, the cloud metadata address among them
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast 255.255.255.255
    if internal {
        Reach::Internal
    } else {
        Reach::Public
    }
}

/// IPv6: public only inside global unicast 2000::/3 outside its special blocks, or as a
/// NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address whose embedded IPv4 is public. Forms that
/// embed an IPv4 address (mapped `::ffff:a.b.c.d`, NAT64, 6to4) lead where that address leads.
fn ipv6_reach(ip: Ipv6Addr) -> Reach {
    let s = ip.segments();
    let v4_at = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if ip.is_loopback() {
        return Reach::Loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_reach(v4);
    }
    // ::/96, IPv4-compatible (deprecated, RFC 4291) and the unspecified address: some stacks
    // still route `::127.0.0.1` to the embedded address; nothing public lives there.
    if s[..6] == [0; 6] {
        return match ipv4_reach(v4_at(s[6], s[7])) {
            Reach::Loopback => Reach::Loopback,
            _ => Reach::Internal,
        };
    }
    // NAT64, the well-known prefix (RFC 6052): the translator calls the embedded address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return ipv4_reach(v4_at(s[6], s[7]));
    }
    // 6to4 (RFC 3056): the relay calls the IPv4 address in bits 16–47.
    if s[0] == 0x2002 {
        return match ipv4_reach(v4_at(s[1], s[2])) {
            Reach::Public => Reach::Public,
            _ => Reach::Internal,
        };
    }
    // Everything outside 2000::/3 is not global: the rest of ::/8 (and 100::/64 discard),
    // NAT64 local use 64:ff9b:1::/48, SRv6 5f00::/16, unique local fc00::/7, link-local
    // fe80::/10, site-local fec0::/10, multicast ff00::/8. Inside it: the IETF protocol
    // assignments 2001::/23 (Teredo 2001::/32 among them, which embeds a client's address),
    // and documentation 2001:db8::/32 and 3fff::/20.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let ietf = s[0] == 0x2001 && s[1] < 0x0200;
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0;
    let special = ietf || documentation;
    if global_unicast && !special {
        Reach::Public
    } else {
        Reach::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(raw: &str) -> Reach {
        url_reach(&parse_http_url(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}")))
    }

    #[test]
    fn every_spelling_of_loopback_is_loopback() {
        for raw in [
            "https://127.0.0.1/",
            "https://127.8.9.10/",
            "http://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
            "https://0x7F000001/",
            "https://127.1/",
            "https://127.0.1/",
            "https://127.0.0.1./",
            "https://%31%32%37.0.0.1/",
            "https://１２７.０.０.１/",
            "https://127。0。0。1/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://[::1]/",
            "https://[0:0:0:0:0:0:0:1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::127.0.0.1]/",
        ] {
            assert_eq!(reach(raw), Reach::Loopback, "{raw}");
        }
    }

    #[test]
    fn non_public_ipv4_ranges_are_internal() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.8",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "172.16.4.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert_eq!(ip_reach(ip.parse().unwrap()), Reach::Internal, "{ip}");
            assert_eq!(reach(&format!("https://{ip}/")), Reach::Internal, "{ip}");
        }
        // Non-dotted spellings of internal addresses are the addresses.
        for raw in
            ["https://167772168/", "https://0xa9.0xfe.0xa9.0xfe/", "https://0251.0376.0251.0376/", "https://10.8/"]
        {
            assert_eq!(reach(raw), Reach::Internal, "{raw}");
        }
    }

    #[test]
    fn non_public_ipv6_forms_are_internal() {
        for raw in [
            "https://[::]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[::10.0.0.1]/",
            "https://[::8.8.8.8]/",
            "https://[64:ff9b::10.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[64:ff9b:1::1]/",
            "https://[100::1]/",
            "https://[2001::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[2001:db8::1]/",
            "https://[2002:a00:1::1]/",
            "https://[2002:7f00:1::]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[3fff::1]/",
            "https://[5f00::1]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[febf::1]/",
            "https://[fec0::1]/",
            "https://[ff02::1]/",
            "https://[ff0e::1]/",
        ] {
            assert_eq!(reach(raw), Reach::Internal, "{raw}");
        }
    }

    #[test]
    fn internal_names_are_internal() {
        for raw in [
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://metadata.google.internal./",
            "https://svc.cluster.internal/",
            "https://nas.home.arpa/",
            "https://1.0.0.127.in-addr.arpa/",
            "https://minio:9000/",
            "https://redis./",
            "https:///path",
            "https://egress.livekit.svc/",
            "https://nas.lan/",
            "https://intranet.corp/",
        ] {
            assert_eq!(reach(raw), Reach::Internal, "{raw}");
        }
    }

    #[test]
    fn public_hosts_are_public() {
        for raw in [
            "https://hooks.example.com/rtc?x=1",
            "https://s3.example.com",
            "https://minio.example.com:9000",
            "https://93.184.216.34:8443/h",
            "https://8.8.8.8/",
            "https://100.63.255.255/",
            "https://100.128.0.1/",
            "https://172.32.0.1/",
            "https://192.0.1.1/",
            "https://198.20.0.1/",
            "https://223.255.255.255/",
            "https://[2606:4700:4700::1111]/",
            "https://[2001:4860:4860::8888]/",
            "https://[64:ff9b::8.8.8.8]/",
            "https://[2002:808:808::1]/",
            "https://localhost.example.com/",
            "https://xn--bcher-kva.example/",
            "https://bücher.example/",
        ] {
            assert_eq!(reach(raw), Reach::Public, "{raw}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host_and_no_user_info_parse() {
        for (raw, refusal) in [
            ("not a url", Refusal::NotUrl),
            ("https://exa mple.com/", Refusal::NotUrl),
            ("https://example.com/\t", Refusal::NotUrl),
            ("https://example.com:99999/", Refusal::NotUrl),
            ("https://127.0.0.1:443junk/", Refusal::NotUrl),
            ("https://1.2.3.4.5/", Refusal::NotUrl),
            ("https://0x100000000/", Refusal::NotUrl),
            ("https://127.0.0.1%00/", Refusal::NotUrl),
            ("ftp://example.com/", Refusal::Scheme),
            ("file:///etc/passwd", Refusal::Scheme),
            ("gopher://example.com/", Refusal::Scheme),
            ("https://user:pw@example.com/", Refusal::UserInfo),
            ("https://user@example.com/", Refusal::UserInfo),
        ] {
            assert_eq!(parse_http_url(raw).map(|u| u.to_string()), Err(refusal), "{raw}");
        }
        // The backslash is a slash to WHATWG: the host is example.com, not 127.0.0.1 — and the
        // serialized form carries no backslash another parser could read differently.
        let u = parse_http_url("https://example.com\\@127.0.0.1/").unwrap();
        assert_eq!((url_reach(&u), u.as_str()), (Reach::Public, "https://example.com/@127.0.0.1/"));
        assert_eq!(parse_http_url("HTTPS://Hooks.Example.COM/a").unwrap().as_str(), "https://hooks.example.com/a");
    }
}
