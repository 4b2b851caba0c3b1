//! SSRF protection at delivery: a canary receiver on loopback must see no connection
//! at all from any spelling of its own address, from a name that resolves to it, from
//! a name that rebinds to it, or through a redirect, while the allowlist is off; with
//! loopback allowlisted the same targets are reached.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookline_delivery::{DeliveryConfig, HostResolver, Lookup, OutboundProxy, SystemResolver};
use hookline_domain::target::TargetPolicy;
use hookline_domain::{Outcome, TaskId};
use hookline_testkit::{Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(10);

/// Answers from a fixed table, else asks the system; counts lookups.
struct Table {
    answers: HashMap<&'static str, Vec<IpAddr>>,
    lookups: AtomicUsize,
}

impl Table {
    fn new(answers: &[(&'static str, &str)]) -> Arc<Table> {
        let answers = answers.iter().map(|(name, ip)| (*name, vec![ip.parse().expect("an IP")])).collect();
        Arc::new(Table { answers, lookups: AtomicUsize::new(0) })
    }
}

impl HostResolver for Table {
    fn lookup(&self, host: &str) -> Lookup {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        match self.answers.get(host).cloned() {
            Some(answer) => Box::pin(async move { Ok(answer) }),
            None => SystemResolver.lookup(host),
        }
    }
}

/// A rebinding name: an allowed address on odd lookups, the canary's on even ones. A
/// client that checked one answer and connected with another would reach the canary.
struct Rebinding {
    allowed: IpAddr,
    forbidden: IpAddr,
    lookups: AtomicUsize,
}

impl HostResolver for Rebinding {
    fn lookup(&self, _host: &str) -> Lookup {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = if n & 1 == 0 { self.allowed } else { self.forbidden };
        Box::pin(async move { Ok(vec![answer]) })
    }
}

fn unprotected() -> DeliveryConfig {
    DeliveryConfig { target_policy: TargetPolicy::default(), ..fast_config() }
}

/// Every spelling of the canary's address (`P` is its port), each a separate subscription.
fn spellings(port: u16) -> Vec<String> {
    [
        "http://127.0.0.1:P/a",
        "http://2130706433:P/b",
        "http://0x7f.1:P/c",
        "http://017700000001:P/d",
        "http://127.1:P/e",
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1:P/f",
        "http://[::ffff:127.0.0.1]:P/g",
        "http://localhost:P/h",
        "http://localhost.:P/i",
        "http://canary.test:P/j",
    ]
    .iter()
    .map(|spelling| spelling.replace('P', &port.to_string()))
    .collect()
}

async fn first_attempts(node: &Node, urls: &[String]) -> Vec<(String, hookline_domain::AttemptRecorded)> {
    let mut tasks: Vec<(String, TaskId)> = Vec::new();
    for url in urls {
        let sub = node.subscribe(url, None).await;
        tasks.push((url.clone(), node.accept(sub, "{}", None).await.task_id));
    }
    let mut out = Vec::new();
    for (url, task_id) in tasks {
        out.push((url, node.wait_attempts(task_id, 1, WAIT).await.remove(0)));
    }
    out
}

#[tokio::test]
async fn no_spelling_of_the_canary_reaches_it_unless_allowlisted() {
    let canary = Receiver::start().await;
    let urls = spellings(canary.addr().port());
    let resolver = Table::new(&[("canary.test", "127.0.0.1")]);

    let node = Node::start_resolving(unprotected(), resolver.clone()).await;
    for (url, attempt) in first_attempts(&node, &urls).await {
        assert_eq!(attempt.outcome, Outcome::FailedAttempt, "{url}");
        assert_eq!(attempt.http_status, None, "{url}");
        let error = attempt.error.unwrap_or_default();
        assert!(error.starts_with("refused: "), "{url}: {error}");
    }
    assert_eq!(canary.connections(), 0, "the canary was reached");
    drop(node);

    // The reasons name the address and the range.
    let node = Node::start_resolving(unprotected(), resolver).await;
    let named = first_attempts(&node, &[urls[2].clone(), urls[9].clone()]).await;
    assert_eq!(
        named[0].1.error.as_deref(),
        Some("refused: 127.0.0.1 resolves to a forbidden address 127.0.0.1 (loopback)")
    );
    assert_eq!(
        named[1].1.error.as_deref(),
        Some("refused: canary.test resolves to a forbidden address 127.0.0.1 (loopback)")
    );
    assert_eq!(canary.connections(), 0, "the canary was reached");
    drop(node);

    // The same targets, allowlisted: every one arrives.
    let allowing = DeliveryConfig {
        target_policy: TargetPolicy::parse_allowlist("127.0.0.0/8,::1/128").expect("CIDRs"),
        ..fast_config()
    };
    let node = Node::start_resolving(allowing, Table::new(&[("canary.test", "127.0.0.1")])).await;
    for (url, attempt) in first_attempts(&node, &urls).await {
        assert_eq!((attempt.outcome, attempt.error.as_deref()), (Outcome::Success, None), "{url}");
    }
    for path in ["/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "/j"] {
        assert_eq!(canary.requests(path).len(), 1, "{path}");
    }
}

#[tokio::test]
async fn a_name_that_rebinds_to_the_canary_never_reaches_it() {
    let canary = Receiver::start().await;
    let port = canary.addr().port();
    // 127.0.0.2 stands for a public address: allowed, and nothing listens there on the
    // canary's port, so no real host on the internet is ever contacted.
    let config = DeliveryConfig {
        target_policy: TargetPolicy::parse_allowlist("127.0.0.2/32").expect("a CIDR"),
        ..fast_config()
    };
    let resolver = Arc::new(Rebinding {
        allowed: "127.0.0.2".parse().expect("an IP"),
        forbidden: "127.0.0.1".parse().expect("an IP"),
        lookups: AtomicUsize::new(0),
    });
    let node = Node::start_resolving(config, resolver.clone()).await;
    let sub = node.subscribe(&format!("http://rebind.test:{port}/hook"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 4, Duration::from_secs(15)).await;
    for (n, attempt) in attempts.iter().enumerate() {
        let error = attempt.error.as_deref().unwrap_or_default();
        if n % 2 == 0 {
            assert_eq!(error, "connection refused", "attempt {}", n + 1);
        } else {
            assert_eq!(error, "refused: rebind.test resolves to a forbidden address 127.0.0.1 (loopback)");
        }
    }
    assert_eq!(canary.connections(), 0, "the canary was reached");
    // One lookup per attempt: the address checked is the address connected to.
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_redirect_to_the_canary_is_never_followed() {
    let canary = Receiver::start().await;
    let redirector = Receiver::start().await;
    let canary_port = canary.addr().port();
    for (path, location) in [
        ("/to-loopback", format!("http://127.0.0.1:{canary_port}/hook")),
        ("/to-hex", format!("http://0x7f.1:{canary_port}/hook")),
        ("/to-mapped", format!("http://[::ffff:127.0.0.1]:{canary_port}/hook")),
    ] {
        redirector.set(path, Script::always(Reply::Redirect(307, location)));
    }
    // Only the redirector is allowed, so that the canary is protected by the redirect rule alone.
    let config = DeliveryConfig {
        target_policy: TargetPolicy::parse_allowlist("127.0.0.1/32").expect("a CIDR"),
        ..fast_config()
    };
    let node = Node::start(config).await;
    let urls: Vec<String> = ["/to-loopback", "/to-hex", "/to-mapped"].iter().map(|path| redirector.url(path)).collect();
    for (url, attempt) in first_attempts(&node, &urls).await {
        assert_eq!((attempt.outcome, attempt.http_status), (Outcome::FailedAttempt, Some(307)), "{url}");
    }
    assert_eq!(canary.connections(), 0, "a redirect was followed");
}

#[tokio::test]
async fn through_a_proxy_forbidden_targets_are_refused_before_the_proxy_sees_them() {
    let proxy = Receiver::start().await;
    let resolver = Table::new(&[("public.test", "93.184.215.14"), ("sneaky.test", "10.0.0.1")]);
    let config = DeliveryConfig {
        // The proxy itself is on loopback: an operator's choice, never checked.
        outbound_proxy: Some(OutboundProxy::parse(&proxy.url("")).expect("a proxy URL")),
        ..unprotected()
    };
    let node = Node::start_resolving(config, resolver.clone()).await;
    let refused = ["http://sneaky.test/hook", "http://169.254.169.254/latest/meta-data/", "http://localhost/x"];
    for (url, attempt) in first_attempts(&node, &refused.map(String::from)).await {
        let error = attempt.error.unwrap_or_default();
        assert!(error.starts_with("refused: "), "{url}: {error}");
    }
    assert_eq!(proxy.connections(), 0, "a refused target went to the proxy");

    // A public target goes to the proxy (which, being a plain receiver, does not forward it).
    first_attempts(&node, &["http://public.test/hook".to_string()]).await;
    assert_eq!(proxy.connections(), 1);
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 2, "sneaky.test and public.test, once each");
}
