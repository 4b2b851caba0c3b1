//! Which IP addresses a webhook must never be sent to: every address that is not
//! globally reachable unicast (loopback, private, link-local and cloud metadata,
//! carrier-grade NAT, multicast, documentation, reserved…), including IPv4 addresses
//! hidden inside IPv6 forms (IPv4-mapped and -compatible, NAT64, 6to4). Pure.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of non-global range an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Range {
    Unspecified,
    /// 0.0.0.0/8: "this network" (Linux connects 0.0.0.0 to the local host).
    ThisNetwork,
    Loopback,
    /// RFC 1918.
    Private,
    /// 100.64.0.0/10, RFC 6598.
    CarrierGradeNat,
    /// 169.254.0.0/16 (cloud metadata at 169.254.169.254 included) and fe80::/10.
    LinkLocal,
    /// 192.0.0.0/24 and 2001::/23 outside Teredo, documentation and benchmarking.
    ProtocolAssignments,
    Documentation,
    /// 198.18.0.0/15 and 2001:2::/48.
    Benchmarking,
    /// 192.88.99.0/24, deprecated.
    SixToFourRelay,
    Multicast,
    Broadcast,
    /// 240.0.0.0/4, and IPv6 outside the global unicast 2000::/3 not named otherwise.
    Reserved,
    /// fc00::/7.
    UniqueLocal,
    /// fec0::/10, deprecated.
    SiteLocal,
    /// 100::/64.
    Discard,
    /// 2001::/32: the real IPv4 target is hidden.
    Teredo,
    /// 64:ff9b:1::/48, RFC 8215.
    LocalNat64,
}

impl Range {
    /// The range as a noun phrase: "a loopback address".
    pub fn phrase(self) -> &'static str {
        match self {
            Range::Unspecified => "an unspecified address",
            Range::ThisNetwork => "a \"this network\" address",
            Range::Loopback => "a loopback address",
            Range::Private => "a private address",
            Range::CarrierGradeNat => "a carrier-grade NAT address",
            Range::LinkLocal => "a link-local address",
            Range::ProtocolAssignments => "an IETF protocol assignment address",
            Range::Documentation => "a documentation address",
            Range::Benchmarking => "a benchmarking address",
            Range::SixToFourRelay => "a 6to4 relay anycast address",
            Range::Multicast => "a multicast address",
            Range::Broadcast => "a broadcast address",
            Range::Reserved => "a reserved address",
            Range::UniqueLocal => "a unique-local address",
            Range::SiteLocal => "a site-local address",
            Range::Discard => "a discard-only address",
            Range::Teredo => "a Teredo address",
            Range::LocalNat64 => "a local-use NAT64 address",
        }
    }

    /// The range in a word or two: "loopback".
    pub fn name(self) -> &'static str {
        match self {
            Range::Unspecified => "unspecified",
            Range::ThisNetwork => "this network",
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::CarrierGradeNat => "carrier-grade NAT",
            Range::LinkLocal => "link-local",
            Range::ProtocolAssignments => "IETF protocol assignment",
            Range::Documentation => "documentation",
            Range::Benchmarking => "benchmarking",
            Range::SixToFourRelay => "6to4 relay anycast",
            Range::Multicast => "multicast",
            Range::Broadcast => "broadcast",
            Range::Reserved => "reserved",
            Range::UniqueLocal => "unique-local",
            Range::SiteLocal => "site-local",
            Range::Discard => "discard-only",
            Range::Teredo => "Teredo",
            Range::LocalNat64 => "local-use NAT64",
        }
    }
}

/// An IPv6 form that carries an IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// ::ffff:a.b.c.d
    Ipv4Mapped,
    /// ::a.b.c.d, deprecated.
    Ipv4Compatible,
    /// 64:ff9b::a.b.c.d
    Nat64,
    /// 2002:aabb:ccdd::/48
    SixToFour,
}

impl Embedding {
    fn name(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "IPv4-mapped",
            Embedding::Ipv4Compatible => "IPv4-compatible",
            Embedding::Nat64 => "NAT64",
            Embedding::SixToFour => "6to4",
        }
    }
}

/// Why an address is forbidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Forbidden {
    pub range: Range,
    /// Set when the address is an IPv6 form of an IPv4 address, which is what decided.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl Forbidden {
    fn plain(range: Range) -> Option<Forbidden> {
        Some(Forbidden { range, embedded: None })
    }
}

/// "loopback", or "loopback 127.0.0.1, IPv4-mapped".
impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            None => f.write_str(self.range.name()),
            Some((how, v4)) => write!(f, "{} {v4}, {}", self.range.name(), how.name()),
        }
    }
}

/// Whether `ip` is not a globally reachable unicast address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    forbidden_reason(ip).is_some()
}

/// Why `ip` is not a globally reachable unicast address, if it is not.
pub fn forbidden_reason(ip: IpAddr) -> Option<Forbidden> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4).map(|range| Forbidden { range, embedded: None }),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// `(network, prefix length, range)`, checked in order: the first match decides.
const V4_RANGES: &[(u32, u32, Range)] = &[
    (0x0000_0000, 32, Range::Unspecified),
    (0xffff_ffff, 32, Range::Broadcast),
    (0x0000_0000, 8, Range::ThisNetwork),
    (0x0a00_0000, 8, Range::Private),
    (0x6440_0000, 10, Range::CarrierGradeNat),
    (0x7f00_0000, 8, Range::Loopback),
    (0xa9fe_0000, 16, Range::LinkLocal),
    (0xac10_0000, 12, Range::Private),
    (0xc000_0000, 24, Range::ProtocolAssignments),
    (0xc000_0200, 24, Range::Documentation),
    (0xc058_6300, 24, Range::SixToFourRelay),
    (0xc0a8_0000, 16, Range::Private),
    (0xc612_0000, 15, Range::Benchmarking),
    (0xc633_6400, 24, Range::Documentation),
    (0xcb00_7100, 24, Range::Documentation),
    (0xe000_0000, 4, Range::Multicast),
    (0xf000_0000, 4, Range::Reserved),
];

fn v4_range(ip: Ipv4Addr) -> Option<Range> {
    let bits = u32::from(ip);
    V4_RANGES.iter().find(|(network, prefix, _)| bits >> (32 - prefix) == network >> (32 - prefix)).map(|r| r.2)
}

/// `(network, prefix length, range)` for IPv6 ranges that carry no IPv4 address.
const V6_RANGES: &[(u128, u32, Range)] = &[
    (0x0064_ff9b_0001 << 80, 48, Range::LocalNat64),
    (0x0100 << 112, 64, Range::Discard),
    (0x2001_0000 << 96, 32, Range::Teredo),
    (0x2001_0002 << 96, 48, Range::Benchmarking),
    (0x2001_0db8 << 96, 32, Range::Documentation),
    (0x2001 << 112, 23, Range::ProtocolAssignments),
    (0x3fff << 112, 20, Range::Documentation),
    (0xfc00 << 112, 7, Range::UniqueLocal),
    (0xfe80 << 112, 10, Range::LinkLocal),
    (0xfec0 << 112, 10, Range::SiteLocal),
    (0xff00 << 112, 8, Range::Multicast),
];

fn v6_reason(ip: Ipv6Addr) -> Option<Forbidden> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Forbidden::plain(Range::Unspecified);
    }
    if ip.is_loopback() {
        return Forbidden::plain(Range::Loopback);
    }
    if let Some((how, v4)) = embedded_v4(bits) {
        return match (v4_range(v4), how) {
            (Some(range), _) => Some(Forbidden { range, embedded: Some((how, v4)) }),
            // No stack sends ::a.b.c.d anywhere useful: it sits in reserved space whatever it embeds.
            (None, Embedding::Ipv4Compatible) => Some(Forbidden { range: Range::Reserved, embedded: Some((how, v4)) }),
            (None, _) => None,
        };
    }
    if let Some(&(_, _, range)) =
        V6_RANGES.iter().find(|(network, prefix, _)| bits >> (128 - prefix) == network >> (128 - prefix))
    {
        return Forbidden::plain(range);
    }
    // Global unicast is 2000::/3; everything outside it not named above is reserved.
    if bits >> 125 != 0b001 {
        return Forbidden::plain(Range::Reserved);
    }
    None
}

/// The IPv4 address an IPv6 form carries, and the form.
fn embedded_v4(bits: u128) -> Option<(Embedding, Ipv4Addr)> {
    let low32 = Ipv4Addr::from(bits as u32);
    if bits >> 32 == 0xffff {
        return Some((Embedding::Ipv4Mapped, low32));
    }
    if bits >> 32 == 0 {
        return Some((Embedding::Ipv4Compatible, low32));
    }
    if bits >> 32 == 0x0064_ff9b << 64 {
        return Some((Embedding::Nat64, low32));
    }
    if bits >> 112 == 0x2002 {
        return Some((Embedding::SixToFour, Ipv4Addr::from((bits >> 80) as u32)));
    }
    None
}
