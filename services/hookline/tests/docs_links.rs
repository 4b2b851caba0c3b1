//! Every relative link of the project's Markdown (the README, docs/, and the other
//! READMEs and guides at the top of the tree) points at a file that exists, and a link
//! to a heading (`page.md#section`) at a heading that page has, with the anchors a code
//! host makes of headings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).canonicalize().expect("the repository root")
}

/// The Markdown pages checked: top-level ones, docs/ and loadtests/.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = Vec::new();
    for dir in [root.to_path_buf(), root.join("docs"), root.join("loadtests")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// The lines outside fenced code blocks.
fn unfenced_lines(text: &str) -> Vec<&str> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            lines.push(line);
        }
    }
    lines
}

/// The text outside fenced code blocks and inline code spans, line by line.
fn prose_lines(text: &str) -> Vec<String> {
    unfenced_lines(text)
        .into_iter()
        .map(|line| {
            // Drop `code spans`: a link-like text in them is code, not a link.
            line.split('`').enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, part)| part).collect()
        })
        .collect()
}

/// Targets of the inline links `[text](target)` and images `![alt](target)` of a page.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("").to_string();
            targets.push(target);
            rest = &after[end..];
        }
    }
    targets
}

/// The anchor a code host gives a heading: lower case, punctuation dropped (the text of
/// a code span kept), spaces as hyphens; a repeated heading gets `-1`, `-2`, ….
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in unfenced_lines(text) {
        let Some(heading) = line.strip_prefix('#') else { continue };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 1;
        while seen.contains(&anchor) {
            anchor = format!("{slug}-{n}");
            n += 1;
        }
        seen.insert(anchor);
    }
    seen
}

fn is_external(target: &str) -> bool {
    target.is_empty() || target.contains("://") || target.starts_with("mailto:")
}

/// What is wrong with `target`, a link of `page`; `None` when it resolves.
fn broken(root: &Path, page: &Path, target: &str) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file =
        if path.is_empty() { page.to_path_buf() } else { page.parent().expect("a page has a folder").join(path) };
    let Ok(file) = file.canonicalize() else { return Some("no such file".into()) };
    if !file.starts_with(root) {
        return Some("outside the repository".into());
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|e| e != "md") {
        return None; // anchors into code files are line numbers the host makes
    }
    let text = std::fs::read_to_string(&file).expect("a linked page reads");
    (!anchors(&text).contains(anchor)).then(|| format!("no heading makes the anchor #{anchor}"))
}

#[test]
fn every_relative_link_in_the_docs_points_at_something() {
    let root = repo();
    let pages = pages(&root);
    assert!(pages.iter().any(|p| p.ends_with("README.md")), "the README is among the pages");
    assert!(pages.iter().any(|p| p.ends_with("docs/architecture.md")), "docs/ is among the pages");
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("a page reads");
        for target in link_targets(&text).into_iter().filter(|t| !is_external(t)) {
            checked += 1;
            if let Some(problem) = broken(&root, page, &target) {
                problems.push(format!("{}: ({target}): {problem}", page.strip_prefix(&root).unwrap_or(page).display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} relative links found: the parser lost them");
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_links_anchors_and_code() {
    let text = "# Run it\n## Run it\n### Kafka + ScyllaDB: why?\n### `HOOKLINE_LISTEN`\nSee [a](x.md#run-it-1) and ![b](img.png).\n\
                ```\n[not](a-link.md)\n```\nAnd `[nor](this.md)` nor [c](https://example.com).\n";
    assert_eq!(link_targets(text), vec!["x.md#run-it-1", "img.png", "https://example.com"]);
    let found = anchors(text);
    for anchor in ["run-it", "run-it-1", "kafka--scylladb-why", "hookline_listen"] {
        assert!(found.contains(anchor), "{anchor} in {found:?}");
    }
}
