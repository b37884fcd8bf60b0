//! Trove's `links` (self + bookmark) and `next` pagination links, and the base URL they (and the
//! token's service catalog) start with: `[api] public_url`, never what a client's `Host` says.
//! Forwarding headers (`X-Forwarded-Host`/`-Proto`, `Forwarded`) count only when the request
//! comes from one of `[api] trusted_proxies`, and only with a plain scheme and host.

use super::AppState;
use actix_web::{web, HttpRequest};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// An IP network (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?,
        };
        Ok(Cidr { network, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.bits)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The base URL of this API when `[api] public_url` is empty: the bound address, or the host
/// name when bound to every address.
pub fn derived_public_url(configured: &str, bound: SocketAddr) -> String {
    let configured = configured.trim().trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_string();
    }
    if bound.ip().is_unspecified() {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        return format!("http://{host}:{}", bound.port());
    }
    format!("http://{bound}")
}

/// `scheme://host[:port]` every link of a response starts with.
pub fn base(req: &HttpRequest) -> String {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return String::new();
    };
    let from_proxy = req
        .peer_addr()
        .is_some_and(|peer| state.trusted_proxies.iter().any(|c| c.contains(peer.ip())));
    if from_proxy {
        if let Some(forwarded) = forwarded_base(req) {
            return forwarded;
        }
    }
    state.public_url.clone()
}

/// What a trusted proxy says the client asked for, if it is a plain `http(s)://host[:port]`.
fn forwarded_base(req: &HttpRequest) -> Option<String> {
    let has_forwarding = ["forwarded", "x-forwarded-host", "x-forwarded-proto"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    if !has_forwarding {
        return None;
    }
    let info = req.connection_info();
    let scheme = info.scheme().to_ascii_lowercase();
    let host = info.host();
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    (matches!(scheme.as_str(), "http" | "https") && host_ok).then(|| format!("{scheme}://{host}"))
}

/// `[{"href": …/v1.0/{t}/{res}/{id}, "rel": "self"}, {"href": …/{res}/{id}, "rel": "bookmark"}]`
pub fn resource(base: &str, tenant: &str, collection: &str, id: &str) -> Value {
    json!([
        {"href": format!("{base}/v1.0/{tenant}/{collection}/{id}"), "rel": "self"},
        {"href": format!("{base}/{collection}/{id}"), "rel": "bookmark"},
    ])
}

/// The `next` link of a page whose last item is `marker`, keeping the request's `limit`.
pub fn next_page(req: &HttpRequest, limit: i64, marker: &str) -> Value {
    let href = format!("{}{}?limit={limit}&marker={marker}", base(req), req.path());
    json!([{"rel": "next", "href": href}])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_their_addresses_only() {
        let net = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("mapped")));
        let one = Cidr::parse("127.0.0.1").expect("bare address");
        assert!(one.contains("127.0.0.1".parse().expect("ip")));
        assert!(!one.contains("127.0.0.2".parse().expect("ip")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("all")
            .contains("8.8.8.8".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("javascript://x").is_err());
        let bound: SocketAddr = "127.0.0.1:8779".parse().expect("addr");
        assert_eq!(derived_public_url("", bound), "http://127.0.0.1:8779");
        assert_eq!(derived_public_url("https://db.example/", bound), "https://db.example");
    }
}
