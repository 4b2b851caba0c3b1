//! Where webhooks may go: the address policy that keeps hookline from being turned
//! against the network it runs in (SSRF). Pure: names are never resolved here; the
//! delivery role checks every address a name resolves to, at connect time, with
//! [`TargetPolicy::check_ip`].

mod cidr;
mod ranges;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

pub use cidr::{Cidr, CidrError};
pub use ranges::{forbidden_reason, is_forbidden, Embedding, Forbidden, Range};

/// The setting that exempts networks, named in refusals so that users know the way out.
pub const ALLOWLIST_SETTING: &str = "HOOKLINE_TARGET_ALLOWLIST";

/// Which addresses webhooks may be sent to: every globally reachable unicast address,
/// plus the networks of the allowlist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    allowlist: Vec<Cidr>,
}

/// Why a target is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    #[error("must use http or https")]
    Scheme,
    #[error("must name a host")]
    NoHost,
    #[error("resolves to {} ({}); set {ALLOWLIST_SETTING} to allow it", .reason.range.phrase(), Shown(*.ip, *.reason))]
    Address { host: String, ip: IpAddr, reason: Forbidden },
    #[error("names the local host ({host}), a loopback address; set {ALLOWLIST_SETTING} to allow it")]
    LocalName { host: String },
}

impl TargetPolicy {
    /// Only global addresses, plus `allowlist`.
    pub fn new(allowlist: Vec<Cidr>) -> Self {
        Self { allowlist }
    }

    /// Reads `HOOKLINE_TARGET_ALLOWLIST`: comma-separated CIDRs, blanks ignored.
    pub fn parse_allowlist(text: &str) -> Result<Self, CidrError> {
        let allowlist =
            text.split(',').filter(|entry| !entry.trim().is_empty()).map(str::parse).collect::<Result<_, _>>()?;
        Ok(Self { allowlist })
    }

    pub fn allowlist(&self) -> &[Cidr] {
        &self.allowlist
    }

    /// Whether the allowlist exempts `ip` (an IPv4-mapped address counts as its IPv4
    /// address: that is where a connection to it goes).
    pub fn is_allowlisted(&self, ip: IpAddr) -> bool {
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowlist.iter().any(|net| net.contains(ip) || mapped.is_some_and(|v4| net.contains(v4)))
    }

    /// Why a connection to `ip` is refused, if it is.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Forbidden> {
        match forbidden_reason(ip) {
            Some(reason) if !self.is_allowlisted(ip) => Err(reason),
            _ => Ok(()),
        }
    }

    /// Checks what can be known of a parsed URL without DNS: the scheme, an IP literal
    /// host (the WHATWG parser has already turned `0x7f.1`, `2130706433`, fullwidth
    /// digits and the like into the address they mean), and names of the local host.
    pub fn check_url(&self, url: &Url) -> Result<(), TargetRefusal> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(TargetRefusal::Scheme);
        }
        let ip = match url.host() {
            None => return Err(TargetRefusal::NoHost),
            Some(Host::Domain("")) => return Err(TargetRefusal::NoHost),
            Some(Host::Domain(name)) => {
                return match is_local_name(name) && !self.allows_loopback() {
                    true => Err(TargetRefusal::LocalName { host: name.to_string() }),
                    false => Ok(()),
                }
            }
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        self.check_ip(ip).map_err(|reason| TargetRefusal::Address { host: ip.to_string(), ip, reason })
    }

    fn allows_loopback(&self) -> bool {
        self.is_allowlisted(IpAddr::V4(Ipv4Addr::LOCALHOST)) || self.is_allowlisted(IpAddr::V6(Ipv6Addr::LOCALHOST))
    }
}

/// `localhost` and `*.localhost` (RFC 6761), whatever the case and trailing dots.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// An address as refusals show it: `127.0.0.1`, or `127.0.0.1 inside ::ffff:127.0.0.1`.
struct Shown(IpAddr, Forbidden);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1.embedded {
            None => write!(f, "{}", self.0),
            Some((_, v4)) => write!(f, "{v4} inside {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests;
