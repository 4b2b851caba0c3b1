//! Where the views live: nodes, keyspace, replication and consistency.

use scylla::statement::Consistency;

use hookline_views::ViewError;

/// How to reach the CQL cluster and which keyspace holds the views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScyllaSettings {
    /// Contact points, `host:port` (for example `127.0.0.1:9042`).
    pub nodes: Vec<String>,
    /// A plain lowercase CQL identifier: `[a-z][a-z0-9_]*`, 48 characters at most.
    pub keyspace: String,
    /// The replication map of `CREATE KEYSPACE`, for example
    /// `{'class': 'NetworkTopologyStrategy', 'dc1': 3}`; used by `migrate` only.
    pub replication: String,
    /// Of every read and write; `LocalQuorum` unless told otherwise.
    pub consistency: Consistency,
}

impl Default for ScyllaSettings {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".to_string()],
            keyspace: "hookline".to_string(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_string(),
            consistency: Consistency::LocalQuorum,
        }
    }
}

impl ScyllaSettings {
    /// A consistency level from its CQL name (`one`, `quorum`, `local_quorum`, …, any case).
    pub fn consistency_named(name: &str) -> Result<Consistency, ViewError> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "any" => Consistency::Any,
            "one" => Consistency::One,
            "two" => Consistency::Two,
            "three" => Consistency::Three,
            "quorum" => Consistency::Quorum,
            "all" => Consistency::All,
            "local_quorum" => Consistency::LocalQuorum,
            "each_quorum" => Consistency::EachQuorum,
            "local_one" => Consistency::LocalOne,
            other => {
                return Err(ViewError::Storage(format!(
                    "unknown consistency {other:?} (one, two, three, quorum, all, local_quorum, each_quorum, local_one, any)"
                )))
            }
        })
    }

    /// Refuses settings that cannot name a keyspace or a replication map, since both
    /// are pasted into CQL text.
    pub(crate) fn check(&self) -> Result<(), ViewError> {
        let invalid = |what: String| Err(ViewError::Storage(format!("invalid view store settings: {what}")));
        if self.nodes.is_empty() {
            return invalid("no CQL node given".to_string());
        }
        let ks = &self.keyspace;
        let plain = ks.len() <= 48
            && ks.starts_with(|c: char| c.is_ascii_lowercase())
            && ks.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return invalid(format!("keyspace {ks:?} is not a lowercase identifier of at most 48 characters"));
        }
        let map = self.replication.trim();
        if !(map.starts_with('{') && map.ends_with('}')) || map.contains(';') {
            return invalid(format!("replication {map:?} is not a CQL map such as {{'class': 'SimpleStrategy', ...}}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_levels_by_name() {
        assert_eq!(ScyllaSettings::consistency_named("LOCAL_QUORUM").unwrap(), Consistency::LocalQuorum);
        assert_eq!(ScyllaSettings::consistency_named("one").unwrap(), Consistency::One);
        assert!(ScyllaSettings::consistency_named("most").is_err());
    }

    fn with(keyspace: &str, replication: &str) -> ScyllaSettings {
        ScyllaSettings {
            keyspace: keyspace.to_string(),
            replication: replication.to_string(),
            ..ScyllaSettings::default()
        }
    }

    #[test]
    fn defaults_are_valid() {
        ScyllaSettings::default().check().expect("defaults");
    }

    #[test]
    fn keyspace_and_replication_that_would_change_the_cql_are_refused() {
        let map = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
        for keyspace in ["", "Hookline", "1views", "views; DROP", "a\"b", &"k".repeat(49)] {
            assert!(with(keyspace, map).check().is_err(), "keyspace {keyspace:?} accepted");
        }
        for replication in ["SimpleStrategy", "{'class': 'x'}; DROP KEYSPACE y; {", ""] {
            assert!(with("hookline", replication).check().is_err(), "replication {replication:?} accepted");
        }
        let no_nodes = ScyllaSettings { nodes: Vec::new(), ..ScyllaSettings::default() };
        assert!(no_nodes.check().is_err());
    }
}
