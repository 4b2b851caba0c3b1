use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use url::Url;

use super::*;

/// Every forbidden network, with the range its addresses are reported as (the
/// addresses of the first rows are sampled away from the more specific ones).
const FORBIDDEN: &[(&str, Range)] = &[
    ("0.0.0.0/8", Range::ThisNetwork),
    ("10.0.0.0/8", Range::Private),
    ("100.64.0.0/10", Range::CarrierGradeNat),
    ("127.0.0.0/8", Range::Loopback),
    ("169.254.0.0/16", Range::LinkLocal),
    ("172.16.0.0/12", Range::Private),
    ("192.0.0.0/24", Range::ProtocolAssignments),
    ("192.0.2.0/24", Range::Documentation),
    ("192.88.99.0/24", Range::SixToFourRelay),
    ("192.168.0.0/16", Range::Private),
    ("198.18.0.0/15", Range::Benchmarking),
    ("198.51.100.0/24", Range::Documentation),
    ("203.0.113.0/24", Range::Documentation),
    ("224.0.0.0/4", Range::Multicast),
    ("240.0.0.0/4", Range::Reserved),
    ("::1/128", Range::Loopback),
    ("64:ff9b:1::/48", Range::LocalNat64),
    ("100::/64", Range::Discard),
    ("2001::/32", Range::Teredo),
    ("2001:2::/48", Range::Benchmarking),
    ("2001:db8::/32", Range::Documentation),
    ("3fff::/20", Range::Documentation),
    ("fc00::/7", Range::UniqueLocal),
    ("fe80::/10", Range::LinkLocal),
    ("fec0::/10", Range::SiteLocal),
    ("ff00::/8", Range::Multicast),
    ("4000::/2", Range::Reserved),
];

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap()
}

/// The address `offset` past the start of `net` (wrapping inside it).
fn inside(net: Cidr, offset: u128) -> IpAddr {
    match net.network() {
        IpAddr::V4(base) => {
            let size = 1u64 << (32 - net.prefix());
            IpAddr::V4(Ipv4Addr::from(u32::from(base) + (offset % u128::from(size)) as u32))
        }
        IpAddr::V6(base) => {
            let span = 128 - u32::from(net.prefix());
            let offset = if span == 128 { offset } else { offset % (1u128 << span) };
            IpAddr::V6(Ipv6Addr::from(u128::from(base) + offset))
        }
    }
}

fn forms_of(v4: Ipv4Addr) -> [(Embedding, Ipv6Addr); 4] {
    let bits = u128::from(u32::from(v4));
    [
        (Embedding::Ipv4Mapped, v4.to_ipv6_mapped()),
        (Embedding::Ipv4Compatible, Ipv6Addr::from(bits)),
        (Embedding::Nat64, Ipv6Addr::from((0x0064_ff9b_u128 << 96) | bits)),
        (Embedding::SixToFour, Ipv6Addr::from((0x2002_u128 << 112) | (bits << 80) | 1)),
    ]
}

fn refusal(url: &str, policy: &TargetPolicy) -> Option<TargetRefusal> {
    policy.check_url(&Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))).err()
}

#[test]
fn hostile_spellings_of_loopback_are_what_they_mean() {
    let policy = TargetPolicy::default();
    for url in [
        "http://127.0.0.1/",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://017700000001/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://127.0.0.1./",
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
        "HTTP://127.0.0.1:8080/x",
    ] {
        let refused = refusal(url, &policy).unwrap_or_else(|| panic!("{url} must be refused"));
        assert_eq!(
            refused.to_string(),
            "resolves to a loopback address (127.0.0.1); set HOOKLINE_TARGET_ALLOWLIST to allow it",
            "{url}"
        );
    }
    let mapped = refusal("http://[::ffff:127.0.0.1]/", &policy).expect("mapped loopback refused");
    assert_eq!(
        mapped.to_string(),
        "resolves to a loopback address (127.0.0.1 inside ::ffff:127.0.0.1); set HOOKLINE_TARGET_ALLOWLIST to allow it"
    );
    for url in ["http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://[::127.0.0.1]/", "http://[64:ff9b::7f00:1]/"] {
        assert!(matches!(refusal(url, &policy), Some(TargetRefusal::Address { .. })), "{url}");
    }
}

#[test]
fn other_internal_targets_are_refused_with_their_reason() {
    let policy = TargetPolicy::default();
    for (url, range) in [
        ("http://169.254.169.254/latest/meta-data/", Range::LinkLocal),
        ("http://0.0.0.0/", Range::Unspecified),
        ("http://0/", Range::Unspecified),
        ("http://10.1.2.3/", Range::Private),
        ("http://100.100.100.200/", Range::CarrierGradeNat),
        ("http://[fd00:ec2::254]/", Range::UniqueLocal),
        ("http://[fe80::1]/", Range::LinkLocal),
        ("http://[::]/", Range::Unspecified),
        ("http://255.255.255.255/", Range::Broadcast),
        ("http://[2002:a00:1::1]/", Range::Private),
    ] {
        match refusal(url, &policy) {
            Some(TargetRefusal::Address { reason, .. }) => assert_eq!(reason.range, range, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn names_of_the_local_host_are_refused_without_resolving() {
    let policy = TargetPolicy::default();
    for url in ["http://localhost/", "http://LOCALHOST./", "http://api.localhost:9/x", "https://localhost../"] {
        assert!(matches!(refusal(url, &policy), Some(TargetRefusal::LocalName { .. })), "{url}");
    }
    assert_eq!(
        refusal("http://localhost./", &policy).unwrap().to_string(),
        "names the local host (localhost.), a loopback address; set HOOKLINE_TARGET_ALLOWLIST to allow it"
    );
    // Other names are resolved, and checked, when connecting.
    for url in ["http://example.com/", "http://localhost.example.com/", "http://mylocalhost/"] {
        assert_eq!(refusal(url, &policy), None, "{url}");
    }
}

#[test]
fn public_targets_pass() {
    let policy = TargetPolicy::default();
    for url in [
        "https://93.184.215.14/hook",
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",
        "http://[64:ff9b::808:808]/",
        "http://[2002:808:808::1]/",
        "http://1.1.1.1:8080/",
    ] {
        assert_eq!(refusal(url, &policy), None, "{url}");
    }
}

#[test]
fn only_http_and_https() {
    let policy = TargetPolicy::default();
    for url in ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "ws://example.com/"] {
        assert_eq!(refusal(url, &policy), Some(TargetRefusal::Scheme), "{url}");
    }
}

#[test]
fn the_allowlist_exempts_its_networks_and_nothing_else() {
    let policy = TargetPolicy::parse_allowlist(" 127.0.0.0/8, ,10.1.0.0/16").unwrap();
    assert_eq!(policy.allowlist().len(), 2);
    assert_eq!(refusal("http://127.0.0.1:9/", &policy), None);
    assert_eq!(refusal("http://0x7f.1/", &policy), None);
    assert_eq!(refusal("http://[::ffff:127.0.0.1]/", &policy), None);
    assert_eq!(refusal("http://localhost/", &policy), None);
    assert_eq!(refusal("http://10.1.200.3/", &policy), None);
    assert!(refusal("http://10.2.0.1/", &policy).is_some());
    assert!(refusal("http://[::1]/", &policy).is_some());
    assert!(refusal("http://169.254.169.254/", &policy).is_some());
    assert!(TargetPolicy::parse_allowlist("127.0.0.0/8,nonsense").is_err());
    assert_eq!(TargetPolicy::parse_allowlist("").unwrap(), TargetPolicy::default());
}

#[test]
fn forbidden_reasons_read_well() {
    let mapped = forbidden_reason("::ffff:10.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(mapped.to_string(), "private 10.0.0.1, IPv4-mapped");
    assert_eq!(forbidden_reason("169.254.169.254".parse().unwrap()).unwrap().to_string(), "link-local");
}

proptest! {
    #[test]
    fn every_address_of_every_forbidden_range_is_refused_unless_allowlisted(row in 0..FORBIDDEN.len(), offset: u128) {
        let (text, range) = FORBIDDEN[row];
        let net = cidr(text);
        let ip = inside(net, offset);
        let reason = forbidden_reason(ip);
        prop_assert!(reason.is_some(), "{} in {} passed", ip, text);
        let reported = reason.unwrap().range;
        // The first row holds 0.0.0.0, reported as unspecified.
        prop_assert!(reported == range || reported == Range::Unspecified, "{} reported {:?}", ip, reported);
        prop_assert!(TargetPolicy::default().check_ip(ip).is_err());
        prop_assert_eq!(TargetPolicy::new(vec![net]).check_ip(ip), Ok(()));
        prop_assert_eq!(TargetPolicy::new(vec![cidr("0.0.0.0/0"), cidr("::/0")]).check_ip(ip), Ok(()));
    }

    #[test]
    fn ipv6_forms_are_judged_by_the_ipv4_they_carry(row in 0..15usize, offset: u128) {
        let (text, range) = FORBIDDEN[row];
        let IpAddr::V4(v4) = inside(cidr(text), offset) else { unreachable!("the first rows are IPv4") };
        for (how, v6) in forms_of(v4) {
            // ::0.0.0.0 and ::0.0.0.1 are :: and ::1, reported as such.
            if v6.is_unspecified() || v6.is_loopback() {
                continue;
            }
            let reason = forbidden_reason(IpAddr::V6(v6));
            prop_assert_eq!(reason.map(|r| r.embedded), Some(Some((how, v4))), "{}", v6);
            let reported = reason.unwrap().range;
            prop_assert!(reported == range || reported == Range::Unspecified);
        }
    }

    #[test]
    fn ipv6_forms_of_public_ipv4_pass_except_the_deprecated_compatible_one(a: u32) {
        let v4 = Ipv4Addr::from(a);
        prop_assume!(!is_forbidden(IpAddr::V4(v4)));
        for (how, v6) in forms_of(v4) {
            let refused = is_forbidden(IpAddr::V6(v6));
            prop_assert_eq!(refused, how == Embedding::Ipv4Compatible, "{}", v6);
        }
    }
}
