//! The CQL of `schemas/scylla/`, applied by [`migrate`] and checked at connect.

use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use hookline_views::ViewError;

use crate::error;
use crate::settings::ScyllaSettings;

const KEYSPACE_CQL: &str = include_str!("../../../schemas/scylla/keyspace.cql");
const VIEWS_CQL: &str = include_str!("../../../schemas/scylla/views.cql");

/// What `views.cql` creates; `connect` refuses a keyspace that lacks any of it.
const TABLES: [&str; 20] = [
    "subscriptions",
    "subscription_writes",
    "subscriptions_listing",
    "delivery_tasks",
    "attempts_by_task",
    "attempts_by_subscription",
    "task_payload_positions",
    "tasks_by_hour",
    "tasks_by_subscription",
    "task_listing_buckets",
    "events",
    "events_by_tenant",
    "event_listing_buckets",
    "tokens_last_used",
    "line_entries",
    "line_places",
    "replays",
    "replay_tasks",
    "replays_by_day",
    "replay_listing_buckets",
];
const TYPES: [&str; 2] = ["attempt_record", "last_attempt"];
/// Columns added after their table first shipped: `CREATE TABLE IF NOT EXISTS` leaves
/// an older table as it was, so `migrate` adds those it lacks (table, column, type).
const ADDED_COLUMNS: [(&str, &str, &str); 20] = [
    ("subscriptions", "enabled", "boolean"),
    ("subscriptions", "disabled_reason", "text"),
    ("subscriptions_listing", "enabled", "boolean"),
    ("subscriptions_listing", "disabled_reason", "text"),
    ("subscriptions", "previous_secret", "text"),
    ("subscriptions", "previous_secret_expires_at", "timestamp"),
    ("subscriptions_listing", "previous_secret", "text"),
    ("subscriptions_listing", "previous_secret_expires_at", "timestamp"),
    ("subscriptions", "version", "bigint"),
    ("subscriptions", "write_id", "uuid"),
    ("subscriptions_listing", "version", "bigint"),
    ("subscriptions_listing", "write_id", "uuid"),
    ("subscriptions", "tenant_id", "text"),
    ("subscriptions", "event_types", "frozen<list<text>>"),
    ("subscriptions_listing", "tenant_id", "text"),
    ("subscriptions_listing", "event_types", "frozen<list<text>>"),
    ("subscriptions", "ordering", "text"),
    ("subscriptions_listing", "ordering", "text"),
    ("subscriptions", "delivery", "text"),
    ("subscriptions_listing", "delivery", "text"),
];

/// Fields added to a user-defined type after it first shipped (type, field, type):
/// `CREATE TYPE IF NOT EXISTS` leaves an older type as it was, so `migrate` adds those
/// it lacks; values stored before read them as null.
const ADDED_FIELDS: [(&str, &str, &str); 2] =
    [("attempt_record", "replay_id", "uuid"), ("last_attempt", "replay_id", "uuid")];

/// How long a contact point may take to answer before it counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The statements of a CQL file: whole-line `--` comments dropped, split at `;`.
fn statements(cql: &str) -> Vec<String> {
    let code: String =
        cql.lines().filter(|line| !line.trim_start().starts_with("--")).map(|line| format!("{line}\n")).collect();
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Opens a session on the contact points; a cluster that does not answer is
/// [`ViewError::Unavailable`].
pub(crate) async fn open_session(settings: &ScyllaSettings) -> Result<Session, ViewError> {
    settings.check()?;
    SessionBuilder::new()
        .known_nodes(&settings.nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .build()
        .await
        .map_err(|e| ViewError::Unavailable(format!("no CQL node answered at {}: {e}", settings.nodes.join(", "))))
}

/// Creates the keyspace, its types and tables if missing (idempotent), then waits
/// until every node agrees on the schema.
pub async fn migrate(settings: &ScyllaSettings) -> Result<(), ViewError> {
    let session = open_session(settings).await?;
    let keyspace =
        KEYSPACE_CQL.replace("{keyspace}", &settings.keyspace).replace("{replication}", settings.replication.trim());
    for statement in statements(&keyspace) {
        session.query_unpaged(statement.as_str(), &[]).await.map_err(|e| error::execution(&statement, e))?;
    }
    // The statements of views.cql name no keyspace: they go to ours.
    session
        .use_keyspace(&settings.keyspace, false)
        .await
        .map_err(|e| ViewError::Storage(format!("use keyspace {}: {e}", settings.keyspace)))?;
    for statement in statements(VIEWS_CQL) {
        session.query_unpaged(statement.as_str(), &[]).await.map_err(|e| error::execution(&statement, e))?;
    }
    add_missing_columns(&session, &settings.keyspace).await?;
    add_missing_fields(&session, &settings.keyspace).await?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| ViewError::Unavailable(format!("schema agreement after migrate: {e}")))?;
    Ok(())
}

/// Adds the [`ADDED_COLUMNS`] a keyspace made by an older `migrate` lacks.
async fn add_missing_columns(session: &Session, keyspace: &str) -> Result<(), ViewError> {
    const COLUMNS: &str = "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?";
    for (table, column, kind) in ADDED_COLUMNS {
        let rows = session
            .query_unpaged(COLUMNS, (keyspace, table))
            .await
            .map_err(|e| error::execution(COLUMNS, e))?
            .into_rows_result()
            .map_err(|e| error::decode(COLUMNS, e))?;
        let mut present = false;
        for row in rows.rows::<(String,)>().map_err(|e| error::decode(COLUMNS, e))? {
            present |= row.map_err(|e| error::decode(COLUMNS, e))?.0 == column;
        }
        if !present {
            let statement = format!("ALTER TABLE {table} ADD {column} {kind}");
            session.query_unpaged(statement.as_str(), &[]).await.map_err(|e| error::execution(&statement, e))?;
        }
    }
    Ok(())
}

/// Adds the [`ADDED_FIELDS`] the types of a keyspace made by an older `migrate` lack.
async fn add_missing_fields(session: &Session, keyspace: &str) -> Result<(), ViewError> {
    const FIELDS: &str = "SELECT field_names FROM system_schema.types WHERE keyspace_name = ? AND type_name = ?";
    for (udt, field, kind) in ADDED_FIELDS {
        let rows = session
            .query_unpaged(FIELDS, (keyspace, udt))
            .await
            .map_err(|e| error::execution(FIELDS, e))?
            .into_rows_result()
            .map_err(|e| error::decode(FIELDS, e))?;
        let mut present = false;
        for row in rows.rows::<(Vec<String>,)>().map_err(|e| error::decode(FIELDS, e))? {
            present |= row.map_err(|e| error::decode(FIELDS, e))?.0.iter().any(|name| name == field);
        }
        if !present {
            let statement = format!("ALTER TYPE {udt} ADD {field} {kind}");
            session.query_unpaged(statement.as_str(), &[]).await.map_err(|e| error::execution(&statement, e))?;
        }
    }
    Ok(())
}

/// Empties every view table (for rebuilding the views from the log); the schema stays.
pub async fn truncate(settings: &ScyllaSettings) -> Result<(), ViewError> {
    let session = open_session(settings).await?;
    for table in TABLES {
        let statement = format!("TRUNCATE {}.{table}", settings.keyspace);
        session.query_unpaged(statement.as_str(), &[]).await.map_err(|e| error::execution(&statement, e))?;
    }
    Ok(())
}

/// Refuses a keyspace that `migrate` has not prepared, naming what is missing.
pub(crate) async fn check(session: &Session, keyspace: &str) -> Result<(), ViewError> {
    let names = |query: &'static str| async move {
        let rows = session
            .query_unpaged(query, (keyspace,))
            .await
            .map_err(|e| error::execution(query, e))?
            .into_rows_result()
            .map_err(|e| error::decode(query, e))?;
        rows.rows::<(String,)>()
            .map_err(|e| error::decode(query, e))?
            .map(|row| row.map(|(name,)| name).map_err(|e| error::decode(query, e)))
            .collect::<Result<Vec<String>, ViewError>>()
    };
    let tables = names("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?").await?;
    let types = names("SELECT type_name FROM system_schema.types WHERE keyspace_name = ?").await?;
    let missing: Vec<&str> = TABLES
        .iter()
        .filter(|t| !tables.iter().any(|have| have == *t))
        .chain(TYPES.iter().filter(|t| !types.iter().any(|have| have == *t)))
        .copied()
        .collect();
    match missing.len() {
        0 => Ok(()),
        n if n == TABLES.len() + TYPES.len() => Err(ViewError::Storage(format!(
            "keyspace {keyspace:?} has no hookline views (missing or empty); run `hookline migrate` first"
        ))),
        _ => Err(ViewError::Storage(format!(
            "keyspace {keyspace:?} lacks {}; run `hookline migrate` first",
            missing.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_split_into_the_expected_statements() {
        let views = statements(VIEWS_CQL);
        assert_eq!(views.len(), TABLES.len() + TYPES.len(), "{views:#?}");
        for table in TABLES {
            let head = format!("CREATE TABLE IF NOT EXISTS {table} (");
            assert!(views.iter().any(|s| s.starts_with(&head)), "no statement creates {table}");
        }
        for udt in TYPES {
            let head = format!("CREATE TYPE IF NOT EXISTS {udt} (");
            assert!(views.iter().any(|s| s.starts_with(&head)), "no statement creates type {udt}");
        }
        assert!(views.iter().all(|s| !s.contains("--")), "comments must not reach the database");
        let keyspace = statements(KEYSPACE_CQL);
        assert_eq!(keyspace.len(), 1);
        assert!(keyspace[0].starts_with("CREATE KEYSPACE IF NOT EXISTS {keyspace}"));
    }
}
