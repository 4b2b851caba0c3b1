//! The SSRF guard at connect time. Every host name is resolved through a
//! [`HostResolver`] (the operating system's, or one a test injects), every address it
//! answers is checked against the [`TargetPolicy`], and the HTTP client connects only
//! to those checked addresses: it is given them as its DNS answer, so it never looks
//! the name up a second time, and a name that answers a public address to a check and
//! a private one to the connection (DNS rebinding) cannot get through. One forbidden
//! address among the answers refuses them all.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use hookline_domain::target::{TargetPolicy, TargetRefusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What a lookup comes to.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves host names to addresses.
pub trait HostResolver: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> Lookup;
}

/// The operating system's resolver (`getaddrinfo`, on the blocking pool).
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(&self, host: &str) -> Lookup {
        // `name.` is `name`; the hosts file only knows the second spelling.
        let host = host.strip_suffix('.').unwrap_or(host).to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// Why no connection was made to a target.
#[derive(Debug, thiserror::Error)]
pub enum Blocked {
    /// The policy forbids the target.
    #[error("{}", refusal_text(.0))]
    Refused(TargetRefusal),
    #[error("could not resolve {host}: {source}")]
    Unresolved { host: String, source: io::Error },
    #[error("could not resolve {host}: no addresses")]
    NoAddresses { host: String },
}

fn refusal_text(refusal: &TargetRefusal) -> String {
    match refusal {
        TargetRefusal::Address { host, ip, reason } => {
            format!("refused: {host} resolves to a forbidden address {ip} ({reason})")
        }
        TargetRefusal::LocalName { host } => format!("refused: {host} names the local host"),
        TargetRefusal::Scheme => "refused: the target url must use http or https".to_string(),
        TargetRefusal::NoHost => "invalid target url: no host".to_string(),
    }
}

/// Resolves `host` and checks every address; all of them, or a refusal.
pub async fn checked_lookup(
    resolver: &dyn HostResolver,
    policy: &TargetPolicy,
    host: &str,
) -> Result<Vec<IpAddr>, Blocked> {
    let addresses =
        resolver.lookup(host).await.map_err(|source| Blocked::Unresolved { host: host.to_string(), source })?;
    if addresses.is_empty() {
        return Err(Blocked::NoAddresses { host: host.to_string() });
    }
    for &ip in &addresses {
        policy
            .check_ip(ip)
            .map_err(|reason| Blocked::Refused(TargetRefusal::Address { host: host.to_string(), ip, reason }))?;
    }
    Ok(addresses)
}

/// The HTTP client's resolver: checked lookups only.
pub struct GuardedResolver {
    resolver: Arc<dyn HostResolver>,
    policy: Arc<TargetPolicy>,
}

impl GuardedResolver {
    pub fn new(resolver: Arc<dyn HostResolver>, policy: Arc<TargetPolicy>) -> Self {
        Self { resolver, policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (resolver, policy) = (self.resolver.clone(), self.policy.clone());
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses = checked_lookup(resolver.as_ref(), &policy, &host).await?;
            // Port 0: the client puts the URL's port in.
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl HostResolver for Table {
        fn lookup(&self, host: &str) -> Lookup {
            let answer = self.0.get(host).cloned();
            Box::pin(async move { answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host")) })
        }
    }

    fn table() -> Table {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        Table(HashMap::from([
            ("public.test", vec![ip("93.184.215.14"), ip("2606:4700::1111")]),
            ("mixed.test", vec![ip("93.184.215.14"), ip("10.0.0.7")]),
            ("empty.test", vec![]),
        ]))
    }

    #[tokio::test]
    async fn one_forbidden_answer_refuses_the_name() {
        let policy = TargetPolicy::default();
        let public = checked_lookup(&table(), &policy, "public.test").await.unwrap();
        assert_eq!(public.len(), 2);
        let refused = checked_lookup(&table(), &policy, "mixed.test").await.unwrap_err();
        assert_eq!(refused.to_string(), "refused: mixed.test resolves to a forbidden address 10.0.0.7 (private)");
        let allowed = TargetPolicy::parse_allowlist("10.0.0.0/8").unwrap();
        assert_eq!(checked_lookup(&table(), &allowed, "mixed.test").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn lookups_that_fail_say_so() {
        let policy = TargetPolicy::default();
        let unknown = checked_lookup(&table(), &policy, "nowhere.test").await.unwrap_err();
        assert_eq!(unknown.to_string(), "could not resolve nowhere.test: unknown host");
        let empty = checked_lookup(&table(), &policy, "empty.test").await.unwrap_err();
        assert_eq!(empty.to_string(), "could not resolve empty.test: no addresses");
    }

    #[tokio::test]
    async fn the_system_resolver_resolves_localhost_to_loopback_which_is_refused() {
        for name in ["localhost", "localhost."] {
            let addresses = SystemResolver.lookup(name).await.expect("localhost resolves");
            assert!(!addresses.is_empty() && addresses.iter().all(IpAddr::is_loopback), "{name}: {addresses:?}");
        }
        let refused = checked_lookup(&SystemResolver, &TargetPolicy::default(), "localhost").await.unwrap_err();
        assert!(refused.to_string().starts_with("refused: localhost resolves to a forbidden address"), "{refused}");
    }
}
