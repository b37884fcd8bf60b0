//! Trove's `links` (self + bookmark) and `next` pagination links, and the base URL they (and the
//! token's service catalog) start with: `[api] public_url`, never what a client's `Host` says.
//! Forwarding headers (`X-Forwarded-Host`/`-Proto`, `Forwarded`) count only when the request
//! comes from one of `[api] trusted_proxies`, and only with a plain scheme and host.

use super::AppState;
use actix_web::{web, HttpRequest};
use ipnet::IpNet;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// Whether `ip` (an IPv4-mapped IPv6 address counts as its IPv4 one) is in one of `nets`.
fn is_trusted(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|net| net.contains(&ip))
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
        .is_some_and(|peer| is_trusted(&state.trusted_proxies, peer.ip()));
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
    super::views::LinkPair::of(base, tenant, collection, id).to_value()
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
    fn proxies_match_their_addresses_only() {
        let nets = [crate::config::validate::parse_proxy("10.1.0.0/16").expect("cidr")];
        assert!(is_trusted(&nets, "10.1.200.3".parse().expect("ip")));
        assert!(!is_trusted(&nets, "10.2.0.1".parse().expect("ip")));
        assert!(is_trusted(&nets, "::ffff:10.1.0.9".parse().expect("mapped")));
        let one = [crate::config::validate::parse_proxy("127.0.0.1").expect("bare address")];
        assert!(is_trusted(&one, "127.0.0.1".parse().expect("ip")));
        assert!(!is_trusted(&one, "127.0.0.2".parse().expect("ip")));
        assert!(is_trusted(
            &[crate::config::validate::parse_proxy("0.0.0.0/0").expect("all")],
            "8.8.8.8".parse().expect("ip")
        ));
        assert!(crate::config::validate::parse_proxy("10.0.0.0/33").is_err());
        assert!(crate::config::validate::parse_proxy("javascript://x").is_err());
        let bound: SocketAddr = "127.0.0.1:8779".parse().expect("addr");
        assert_eq!(derived_public_url("", bound), "http://127.0.0.1:8779");
        assert_eq!(derived_public_url("https://db.example/", bound), "https://db.example");
    }
}
