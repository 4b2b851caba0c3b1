//! docs/configuration.md is what `hookline config --markdown` prints: the reference is
//! generated from the settings themselves, and this test catches a setting added or
//! changed without the page being written again.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_configuration_page_is_what_the_binary_prints() {
    let output = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["config", "--markdown"])
        .output()
        .expect("the hookline binary runs");
    assert!(output.status.success(), "hookline config --markdown failed: {}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).expect("the page is UTF-8");
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md"));
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if printed == committed {
        return;
    }
    let first_difference = printed
        .lines()
        .zip(committed.lines())
        .enumerate()
        .find(|(_, (printed, committed))| printed != committed)
        .map(|(i, (printed, committed))| format!("line {}:\n  committed: {committed}\n  generated: {printed}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "the generated page has {} lines, the committed one {}",
                printed.lines().count(),
                committed.lines().count()
            )
        });
    panic!(
        "docs/configuration.md is not what `hookline config --markdown` prints; write it again with \
         scripts/docs.sh (or `cargo run -p hookline -- config --markdown > docs/configuration.md`)\n{first_difference}"
    );
}
