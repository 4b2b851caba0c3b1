use super::*;
use crate::rows::tests::row;

/// Checks that `svg` is well-formed XML as far as this chart uses it: every tag closed in
/// order, attributes quoted, no stray `<` or `&` in text. Returns the element names in order.
fn elements_of_well_formed(svg: &str) -> Vec<String> {
    let (mut open, mut names) = (Vec::<String>::new(), Vec::new());
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        assert!(
            text.split('&').skip(1).all(|after| ["amp;", "lt;", "gt;", "quot;"].iter().any(|e| after.starts_with(e))),
            "{text}"
        );
        let end = rest[start..].find('>').expect("an unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "{tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "closing {name}");
        } else {
            let name = tag.split_whitespace().next().expect("a name").trim_end_matches('/').to_string();
            names.push(name.clone());
            if !tag.ends_with('/') {
                open.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "left open: {open:?}");
    names
}

/// The points of the series named `name`: (x, y) pairs, and how many separate runs of line.
fn series_points(svg: &str, name: &str) -> (Vec<(f64, f64)>, usize) {
    let line = svg.lines().find(|line| line.contains(&format!("<title>{name}</title>"))).expect(name);
    let d = line.split("d=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a path");
    let points = d
        .split_whitespace()
        .map(|point| {
            let (x, y) = point[1..].split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect();
    (points, d.matches('M').count())
}

/// Coordinates are written to a tenth of a pixel.
fn assert_near(got: f64, expected: f64) {
    assert!((got - expected).abs() <= 0.051, "{got} is not {expected}");
}

fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = (1..=12).map(|n| row(10.0 * n as f64, 1_000, 5)).collect();
    rows[11].offered = 20_000; // 2,000/s: the throughput panel's highest value
    rows[3].ack_p99_ms = None; // nothing answered in that window
    rows[5].rss_max_mb = 100.0;
    rows
}

#[test]
fn the_chart_is_well_formed_with_three_panels_and_every_series_on_its_own_line() {
    let svg = svg("embedded-2m", "2 minutes at 1,000/s <fixed>", &rows());
    let names = elements_of_well_formed(&svg);
    assert_eq!(names.first().map(String::as_str), Some("svg"));
    assert!(svg.contains("&lt;fixed&gt;"), "the title is escaped");
    let series_lines: Vec<&str> = svg.lines().filter(|line| line.contains("class=\"series\"")).collect();
    assert_eq!(series_lines.len(), 6, "three throughput, two latency and one memory series");
    for title in ["Throughput (webhooks/s)", "Latency p99 per window (ms)", "hookline RSS (MB)"] {
        assert!(svg.contains(title), "{title}");
    }
    for legend in ["offered", "accepted (202)", "delivered", "ack (202) p99", "end-to-end p99"] {
        assert!(svg.contains(&format!(">{legend}</text>")), "legend {legend}");
    }
}

#[test]
fn values_are_scaled_to_the_panel_and_time_to_the_axis() {
    let svg = svg("run", "fixed rate", &rows());
    let (offered, runs) = series_points(&svg, "offered");
    assert_eq!((offered.len(), runs), (12, 1));
    // Time axis: 120 s is a whole number of 30-second ticks, so the last row sits at the right edge.
    assert_near(offered[11].0, RIGHT);
    assert_near(offered[0].0, LEFT + (RIGHT - LEFT) / 12.0);
    // 2,000/s is the top of the first panel; 1,000/s half way down.
    assert_near(offered[11].1, TOP);
    assert_near(offered[0].1, TOP + PANEL_HEIGHT / 2.0);
    // RSS: 100 MB tops the third panel, 40 MB is at two fifths of its height.
    let (rss, _) = series_points(&svg, "RSS, highest of window");
    let third_top = TOP + 2.0 * (PANEL_HEIGHT + GAP);
    assert_near(rss[5].1, third_top);
    assert_near(rss[0].1, third_top + PANEL_HEIGHT * 0.6);
    // A window without answers breaks the line instead of drawing a zero.
    let (acks, runs) = series_points(&svg, "ack (202) p99");
    assert_eq!((acks.len(), runs), (11, 2));
}

#[test]
fn axes_end_on_round_numbers() {
    assert_eq!(nice_max(0.0), 1.0);
    assert_eq!(nice_max(7.0), 8.0);
    assert_eq!(nice_max(10.0), 10.0);
    assert_eq!(nice_max(2_100.0), 2_500.0);
    assert_eq!(nice_max(3_000.0), 3_000.0);
    assert_eq!(nice_max(130.0), 150.0);
    assert_eq!(nice_max(8_100.0), 10_000.0);
    assert_eq!(ticks(2_500.0), [0.0, 500.0, 1_000.0, 1_500.0, 2_000.0, 2_500.0]);
    assert_eq!(time_ticks(120.0), [0.0, 30.0, 60.0, 90.0, 120.0]);
    assert_eq!(time_ticks(121.0), [0.0, 30.0, 60.0, 90.0, 120.0], "a moment past a tick");
    assert_eq!(time_ticks(125.0), [0.0, 30.0, 60.0, 90.0, 120.0, 150.0]);
    assert_eq!(time_ticks(1_800.0).len(), 7, "30 minutes in 5-minute ticks");
    assert_eq!((number(0.5), number(1_500.0)), ("0.5".to_string(), "1500".to_string()));
    assert_eq!((clock(90.0), clock(3_725.0)), ("1:30".to_string(), "1:02:05".to_string()));
}
