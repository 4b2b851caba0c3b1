//! The files of the dashboard, compiled into the binary with their content types and
//! entity tags.

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One file as it is served.
pub(crate) struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// A hash of the body, fixed at compile time, for `ETag`.
    pub hash: u64,
}

/// FNV-1a, 64 bits: enough to tell two versions of a file apart, and computable in a
/// `const` so that no request ever hashes.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        Asset {
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/", $file)),
            hash: fnv1a(include_bytes!(concat!("../assets/", $file))),
        }
    };
}

/// The page at `/`.
pub(crate) static PAGE: Asset = asset!("index.html", HTML);

/// Everything under `/assets/`, by path below it.
static FILES: &[(&str, Asset)] = &[
    ("style.css", asset!("style.css", CSS)),
    ("panels.css", asset!("panels.css", CSS)),
    ("overview.css", asset!("overview.css", CSS)),
    ("recovery.css", asset!("recovery.css", CSS)),
    ("favicon.svg", asset!("favicon.svg", SVG)),
    ("js/main.js", asset!("js/main.js", JAVASCRIPT)),
    ("js/api.js", asset!("js/api.js", JAVASCRIPT)),
    ("js/dom.js", asset!("js/dom.js", JAVASCRIPT)),
    ("js/settings.js", asset!("js/settings.js", JAVASCRIPT)),
    ("js/subscriptions.js", asset!("js/subscriptions.js", JAVASCRIPT)),
    ("js/subscription_card.js", asset!("js/subscription_card.js", JAVASCRIPT)),
    ("js/delivery_settings.js", asset!("js/delivery_settings.js", JAVASCRIPT)),
    ("js/stats.js", asset!("js/stats.js", JAVASCRIPT)),
    ("js/send.js", asset!("js/send.js", JAVASCRIPT)),
    ("js/signature.js", asset!("js/signature.js", JAVASCRIPT)),
    ("js/live_list.js", asset!("js/live_list.js", JAVASCRIPT)),
    ("js/feed.js", asset!("js/feed.js", JAVASCRIPT)),
    ("js/tenants.js", asset!("js/tenants.js", JAVASCRIPT)),
    ("js/events.js", asset!("js/events.js", JAVASCRIPT)),
    ("js/event.js", asset!("js/event.js", JAVASCRIPT)),
    ("js/task.js", asset!("js/task.js", JAVASCRIPT)),
    ("js/poller.js", asset!("js/poller.js", JAVASCRIPT)),
    ("js/overview.js", asset!("js/overview.js", JAVASCRIPT)),
    ("js/charts.js", asset!("js/charts.js", JAVASCRIPT)),
    ("js/dead_letters.js", asset!("js/dead_letters.js", JAVASCRIPT)),
    ("js/disabled.js", asset!("js/disabled.js", JAVASCRIPT)),
    ("js/replay_form.js", asset!("js/replay_form.js", JAVASCRIPT)),
    ("js/replays.js", asset!("js/replays.js", JAVASCRIPT)),
];

/// The asset at `path` below `/assets/`, compared exactly: nothing else is reachable.
pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    FILES.iter().find(|(name, _)| *name == path).map(|(_, asset)| asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn only_listed_paths_are_found() {
        assert!(find("js/main.js").is_some());
        assert!(find("../Cargo.toml").is_none());
        assert!(find("").is_none());
        assert!(find("index.html").is_none(), "the page is served at / only");
    }
}
