//! The chart of a long run, as SVG text: three panels stacked over one time axis —
//! throughput (offered, accepted, delivered per second), latency (202 p99, end-to-end p99)
//! and hookline's resident memory — each with its axes, grid and legend. Written by the
//! benchmark itself, so a report needs no plotting tool; plain SVG renders on code hosts.

use std::fmt::Write as _;

use crate::rows::Row;

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 210.0;
/// Top of the first panel (below the title and the panel's own title), and the space between panels.
const TOP: f64 = 86.0;
const GAP: f64 = 40.0;
const LEFT: f64 = 70.0;
/// Right end of the plotting area; the legend sits beyond it.
const RIGHT: f64 = 770.0;
const BOTTOM_MARGIN: f64 = 40.0;

/// One line of a panel: a name, a look and a value per row (`None`: nothing to draw there).
struct Series {
    name: &'static str,
    colour: &'static str,
    /// Throughput lines often coincide: the first is drawn wide underneath, the last dashed
    /// on top, so that each stays visible.
    width: f64,
    dash: &'static str,
    value: fn(&Row) -> Option<f64>,
}

struct Panel {
    title: &'static str,
    series: &'static [Series],
}

const PANELS: [Panel; 3] = [
    Panel {
        title: "Throughput (webhooks/s)",
        series: &[
            Series {
                name: "offered",
                colour: "#bbbbbb",
                width: 6.0,
                dash: "none",
                value: |row| Some(row.per_second(row.offered)),
            },
            Series {
                name: "accepted (202)",
                colour: "#1f77b4",
                width: 2.0,
                dash: "none",
                value: |row| Some(row.per_second(row.accepted)),
            },
            Series {
                name: "delivered",
                colour: "#2ca02c",
                width: 2.0,
                dash: "6 4",
                value: |row| Some(row.per_second(row.delivered)),
            },
        ],
    },
    Panel {
        title: "Latency p99 per window (ms)",
        series: &[
            Series { name: "ack (202) p99", colour: "#1f77b4", width: 2.0, dash: "none", value: |row| row.ack_p99_ms },
            Series { name: "end-to-end p99", colour: "#d62728", width: 2.0, dash: "none", value: |row| row.e2e_p99_ms },
        ],
    },
    Panel {
        title: "hookline RSS (MB)",
        series: &[Series {
            name: "RSS, highest of window",
            colour: "#9467bd",
            width: 2.0,
            dash: "none",
            value: |row| Some(row.rss_max_mb),
        }],
    },
];

/// The chart of `rows` (in time order) under `title`, with `subtitle` (the run in words) below it.
pub fn svg(title: &str, subtitle: &str, rows: &[Row]) -> String {
    let height = TOP + PANELS.len() as f64 * (PANEL_HEIGHT + GAP) + BOTTOM_MARGIN - GAP;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"28\" font-size=\"16\" font-weight=\"bold\">{}</text>\n\
         <text x=\"{LEFT}\" y=\"48\" fill=\"#555\">{}</text>\n",
        escape(title),
        escape(subtitle)
    );
    let last_s = rows.iter().map(|row| row.at_s).fold(0.0, f64::max);
    let time_ticks = time_ticks(last_s);
    // The last row may end a moment past a round tick; the axis then runs to it.
    let time_axis = TimeAxis { x_max: last_s.max(time_ticks.last().copied().unwrap_or(1.0)), ticks: time_ticks };
    for (index, panel) in PANELS.iter().enumerate() {
        let top = TOP + index as f64 * (PANEL_HEIGHT + GAP);
        draw_panel(&mut out, panel, rows, top, &time_axis);
    }
    let bottom = TOP + PANELS.len() as f64 * (PANEL_HEIGHT + GAP) - GAP;
    let _ = writeln!(
        out,
        "<text x=\"{RIGHT}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">time since the load started (m:ss)</text>",
        bottom + 32.0
    );
    out.push_str("</svg>\n");
    out
}

/// The time axis shared by the panels: where it ends, in seconds, and its round ticks.
struct TimeAxis {
    x_max: f64,
    ticks: Vec<f64>,
}

fn draw_panel(out: &mut String, panel: &Panel, rows: &[Row], top: f64, time: &TimeAxis) {
    let bottom = top + PANEL_HEIGHT;
    let x_max = time.x_max;
    let highest = panel.series.iter().flat_map(|s| rows.iter().filter_map(s.value)).fold(0.0, f64::max);
    let y_max = nice_max(highest);
    let x = |seconds: f64| LEFT + (RIGHT - LEFT) * seconds / x_max;
    let y = |value: f64| bottom - PANEL_HEIGHT * value / y_max;
    // `write!` into a String cannot fail.
    let _ =
        writeln!(out, "<text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>", top - 8.0, escape(panel.title));
    for tick in ticks(y_max) {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{RIGHT}\" y2=\"{0:.1}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text>",
            y(tick),
            LEFT - 6.0,
            y(tick) + 4.0,
            number(tick)
        );
    }
    for &tick in &time.ticks {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{bottom:.1}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#999\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>",
            x(tick),
            bottom + 4.0,
            bottom + 16.0,
            clock(tick)
        );
    }
    let _ = writeln!(out, "<path d=\"M{LEFT},{top:.1} V{bottom:.1} H{RIGHT}\" fill=\"none\" stroke=\"#333\"/>");
    for (n, series) in panel.series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for row in rows {
            match (series.value)(row) {
                Some(value) => {
                    let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(row.at_s), y(value));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let legend_y = top + 14.0 + 18.0 * n as f64;
        let _ = writeln!(
            out,
            "<path class=\"series\" d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" \
             stroke-dasharray=\"{dash}\" stroke-linejoin=\"round\"><title>{name}</title></path>\
             <line x1=\"{key_from}\" y1=\"{legend_y:.1}\" x2=\"{key_to}\" y2=\"{legend_y:.1}\" stroke=\"{colour}\" \
             stroke-width=\"{width}\" stroke-dasharray=\"{dash}\"/>\
             <text x=\"{label_x}\" y=\"{label_y:.1}\">{name}</text>",
            d = path.trim_end(),
            key_from = RIGHT + 15.0,
            key_to = RIGHT + 35.0,
            label_x = RIGHT + 41.0,
            label_y = legend_y + 4.0,
            colour = series.colour,
            width = series.width,
            dash = series.dash,
            name = escape(series.name),
        );
    }
}

/// The top of an axis holding `value`: a round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times
/// a power of ten) at or above it, whose fifths are round too.
fn nice_max(value: f64) -> f64 {
    const TOPS: [f64; 10] = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];
    if !(value.is_finite() && value > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    TOPS.iter().map(|top| top * power).find(|top| *top >= value * (1.0 - 1e-9)).unwrap_or(10.0 * power)
}

/// Ticks of the time axis from 0 to about `seconds`, on a step of round seconds or minutes
/// that gives at most six steps. Rows end a moment after their 10 seconds (and the last one
/// may be longer), so a run a twentieth of a step past a tick ends on that tick.
fn time_ticks(seconds: f64) -> Vec<f64> {
    const STEPS: [f64; 11] = [10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1_800.0, 3_600.0, 7_200.0];
    const SLACK: f64 = 0.05;
    let seconds = seconds.max(1.0);
    let step = STEPS
        .iter()
        .copied()
        .find(|step| seconds / step <= 6.0 + SLACK)
        .unwrap_or((seconds / 6.0 / 3_600.0).ceil() * 3_600.0);
    let count = ((seconds / step - SLACK).ceil() as usize).max(1);
    (0..=count).map(|n| step * n as f64).collect()
}

/// Five equal steps from 0 to `top` (a [`nice_max`]), both ends included.
fn ticks(top: f64) -> Vec<f64> {
    (0..=5).map(|n| top * n as f64 / 5.0).collect()
}

/// A tick label: whole numbers with no decimals, others with as few as they need.
fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}").trim_end_matches('0').to_string()
    }
}

/// Seconds as m:ss (h:mm:ss past an hour).
pub fn clock(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
