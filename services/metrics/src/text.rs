//! The Prometheus text exposition format, version 0.0.4: `# HELP`, `# TYPE`, then one
//! line per sample, label values escaped.

use std::fmt::Write;

use crate::registry::FamilySnapshot;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn render(families: &[FamilySnapshot]) -> String {
    let mut out = String::new();
    for family in families {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        for sample in &family.samples {
            out.push_str(&family.name);
            out.push_str(sample.suffix);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{name}=\"{}\"", escape_value(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", float(sample.value));
        }
    }
    out
}

/// A sample value as the format spells it.
pub fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Kind, Registry};

    #[test]
    fn renders_help_type_and_escaped_labels() {
        let mut family = FamilySnapshot::new("a_total", "line one\nback\\slash", Kind::Counter);
        family.push(&[("path", "say \"hi\"\n")], 3.0);
        family.push(&[], 0.5);
        assert_eq!(
            render(&[family]),
            "# HELP a_total line one\\nback\\\\slash\n# TYPE a_total counter\n\
             a_total{path=\"say \\\"hi\\\"\\n\"} 3\na_total 0.5\n"
        );
    }

    #[test]
    fn histograms_end_with_inf_sum_and_count() {
        let registry = Registry::new();
        registry.histogram_family("d_seconds", "d", &["k"], &[0.5]).with(&["v"]).observe(2.0);
        let text = registry.render();
        assert!(text.contains("# TYPE d_seconds histogram\n"), "{text}");
        assert!(text.contains("d_seconds_bucket{k=\"v\",le=\"0.5\"} 0\n"), "{text}");
        assert!(text.contains("d_seconds_bucket{k=\"v\",le=\"+Inf\"} 1\n"), "{text}");
        assert!(text.contains("d_seconds_sum{k=\"v\"} 2\n"), "{text}");
        assert!(text.contains("d_seconds_count{k=\"v\"} 1\n"), "{text}");
    }

    #[test]
    fn special_values() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(1e-3), "0.001");
        assert_eq!(float(12.0), "12");
    }
}
