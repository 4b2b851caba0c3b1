//! Networks written as CIDR (`10.0.0.0/8`, `fd00::/8`, or a bare address for one host).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One network: the addresses that share the first `prefix` bits of `network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a CIDR ({why})")]
pub struct CidrError {
    text: String,
    why: &'static str,
}

impl Cidr {
    /// The network of `address` with `prefix` bits; bits past the prefix are cleared,
    /// so `127.0.0.1/8` means `127.0.0.0/8`.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Cidr> {
        (prefix <= max_prefix(address)).then(|| Cidr { network: masked(address, prefix), prefix })
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network. An IPv4 network never contains an IPv6
    /// address and the other way round.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => masked(ip, self.prefix) == self.network,
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let error = |why| CidrError { text: text.to_string(), why };
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let address: IpAddr = address.parse().map_err(|_| error("not an IP address before the '/'"))?;
        let prefix = match prefix {
            None => max_prefix(address),
            // Digits only: `u8::from_str` would also take a leading '+'.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| error("prefix length out of range"))?
            }
            Some(_) => return Err(error("prefix length must be a number")),
        };
        Cidr::new(address, prefix).ok_or_else(|| error("prefix length out of range"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn max_prefix(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `address` with every bit past the first `prefix` cleared.
fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_single_hosts() {
        assert_eq!(cidr("127.0.0.0/8").to_string(), "127.0.0.0/8");
        assert_eq!(cidr(" 10.1.2.3/16 ").to_string(), "10.1.0.0/16");
        assert_eq!(cidr("192.168.1.7").to_string(), "192.168.1.7/32");
        assert_eq!(cidr("::1").to_string(), "::1/128");
        assert_eq!(cidr("fd00::/8").to_string(), "fd00::/8");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("::/0").to_string(), "::/0");
    }

    #[test]
    fn refuses_what_is_not_a_cidr() {
        for bad in ["", "/8", "127.0.0.0/", "127.0.0.0/33", "::/129", "127.0.0.0/+8", "127.0.0.0/8/8", "localhost/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            "10.0.0.0/x".parse::<Cidr>().unwrap_err().to_string(),
            "\"10.0.0.0/x\" is not a CIDR (prefix length must be a number)"
        );
    }

    #[test]
    fn contains_only_its_own_family_and_bits() {
        let loopback = cidr("127.0.0.0/8");
        assert!(loopback.contains(ip("127.0.0.1")));
        assert!(loopback.contains(ip("127.255.255.255")));
        assert!(!loopback.contains(ip("128.0.0.1")));
        assert!(!loopback.contains(ip("::ffff:127.0.0.1")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
        assert!(!cidr("::/0").contains(ip("1.2.3.4")));
        assert!(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
        assert!(cidr("fe80::/10").contains(ip("febf::1")));
        assert!(!cidr("fe80::/10").contains(ip("fec0::1")));
    }

    proptest! {
        #[test]
        fn a_network_contains_exactly_the_addresses_sharing_its_prefix(a: u32, b: u32, prefix in 0u8..=32) {
            let net = Cidr::new(IpAddr::V4(Ipv4Addr::from(a)), prefix).unwrap();
            let same = prefix == 0 || (a ^ b) >> (32 - u32::from(prefix)) == 0;
            prop_assert_eq!(net.contains(IpAddr::V4(Ipv4Addr::from(b))), same);
            prop_assert!(net.contains(IpAddr::V4(Ipv4Addr::from(a))));
            prop_assert_eq!(net.to_string().parse::<Cidr>().unwrap(), net);
        }

        #[test]
        fn ipv6_networks_round_trip_and_contain_their_base(a: u128, prefix in 0u8..=128) {
            let net = Cidr::new(IpAddr::V6(Ipv6Addr::from(a)), prefix).unwrap();
            prop_assert!(net.contains(IpAddr::V6(Ipv6Addr::from(a))));
            prop_assert_eq!(net.to_string().parse::<Cidr>().unwrap(), net);
        }
    }
}
