//! The target URL guard: what it accepts is a URL that parses again to the same URL,
//! with a host the policy allows; an allowlist only ever widens what is accepted.

use std::net::IpAddr;

use hookline_domain::limits::MAX_URL_LEN;
use hookline_domain::subscription::validate_target_url;
use hookline_domain::target::{is_forbidden, Cidr, TargetPolicy};
use url::{Host, Url};

/// The allowlist the tests and the walk-through run with.
const LOOPBACK_ALLOWLIST: &str = "127.0.0.0/8,::1/128";

/// Input: the target URL as a user sends it.
pub fn validate(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let strict = TargetPolicy::default();
    let loopback = TargetPolicy::parse_allowlist(LOOPBACK_ALLOWLIST).expect("a valid allowlist");

    let strict_ok = validate_target_url(&raw, &strict).is_ok();
    let loopback_ok = validate_target_url(&raw, &loopback).is_ok();
    assert!(!strict_ok || loopback_ok, "{raw:?}: accepted without an allowlist, refused with one");
    if strict_ok {
        check_accepted(&raw, &strict);
    }
    if loopback_ok {
        check_accepted(&raw, &loopback);
    }
}

/// What must hold of a URL that `policy` accepted.
fn check_accepted(raw: &str, policy: &TargetPolicy) {
    assert!(raw.len() <= MAX_URL_LEN, "{raw:?}: over the length limit");
    let url = Url::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: accepted, but does not parse: {e}"));
    assert!(matches!(url.scheme(), "http" | "https"), "{raw:?}: scheme {}", url.scheme());
    assert!(url.username().is_empty() && url.password().is_none(), "{raw:?}: carries credentials");

    // Delivery parses the stored text again: it must come back the same, and allowed.
    let again = Url::parse(url.as_str()).unwrap_or_else(|e| panic!("{raw:?}: {url} does not parse again: {e}"));
    assert_eq!(again, url, "{raw:?}: parsing is not stable");
    assert_eq!(policy.check_url(&again), Ok(()), "{raw:?}: {again} is refused once parsed again");

    match again.host() {
        None | Some(Host::Domain("")) => panic!("{raw:?}: accepted without a host"),
        Some(Host::Ipv4(v4)) => assert_allowed(policy, IpAddr::V4(v4), raw),
        Some(Host::Ipv6(v6)) => assert_allowed(policy, IpAddr::V6(v6), raw),
        Some(Host::Domain(name)) => {
            // An address spelled as a name would skip the address check.
            assert!(name.parse::<IpAddr>().is_err(), "{raw:?}: address {name} kept as a name");
            let local = name.trim_end_matches('.').to_ascii_lowercase();
            let is_local = local == "localhost" || local.ends_with(".localhost");
            let loopback_allowed = policy.is_allowlisted(IpAddr::from([127, 0, 0, 1]));
            assert!(!is_local || loopback_allowed, "{raw:?}: local name {name} accepted");
        }
    }
}

fn assert_allowed(policy: &TargetPolicy, ip: IpAddr, raw: &str) {
    assert!(!is_forbidden(ip) || policy.is_allowlisted(ip), "{raw:?}: forbidden address {ip} accepted");
    assert_eq!(policy.check_ip(ip), Ok(()), "{raw:?}: {ip} accepted as a host, refused as an address");
}

/// Input: a `HOOKLINE_TARGET_ALLOWLIST` value. Every network it yields prints as a
/// CIDR that parses back to itself and contains its own network address.
pub fn allowlist(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(policy) = TargetPolicy::parse_allowlist(&text) else { return };
    for net in policy.allowlist() {
        let printed = net.to_string();
        assert_eq!(printed.parse::<Cidr>().as_ref(), Ok(net), "{text:?}: {printed} does not parse back");
        assert!(net.contains(net.network()), "{text:?}: {net} does not contain its network address");
        assert!(policy.is_allowlisted(net.network()), "{text:?}: {net} is listed but not allowed");
    }
}
