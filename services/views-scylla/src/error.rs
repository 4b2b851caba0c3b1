//! Driver errors as [`ViewError`]s: what a retry may cure is `Unavailable`.

use scylla::errors::{DbError, ExecutionError, PrepareError, RequestAttemptError};

use hookline_views::ViewError;

fn transient_db_error(error: &DbError) -> bool {
    matches!(
        error,
        DbError::Unavailable { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::ReadTimeout { .. }
            | DbError::WriteTimeout { .. }
            | DbError::RateLimitReached { .. }
    )
}

fn transient_attempt(error: &RequestAttemptError) -> bool {
    match error {
        RequestAttemptError::DbError(db, _) => transient_db_error(db),
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => true,
        _ => false,
    }
}

fn classify(transient: bool, what: &str, error: impl std::fmt::Display) -> ViewError {
    if transient {
        ViewError::Unavailable(format!("{what}: {error}"))
    } else {
        ViewError::Storage(format!("{what}: {error}"))
    }
}

/// A failed statement; `what` says which.
pub(crate) fn execution(what: &str, error: ExecutionError) -> ViewError {
    let transient = match &error {
        ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan
        | ExecutionError::SchemaAgreementError(_)
        | ExecutionError::MetadataError(_) => true,
        ExecutionError::LastAttemptError(attempt) => transient_attempt(attempt),
        ExecutionError::PrepareError(prepare) => transient_prepare(prepare),
        _ => false,
    };
    classify(transient, what, error)
}

fn transient_prepare(error: &PrepareError) -> bool {
    match error {
        PrepareError::ConnectionPoolError(_) => true,
        PrepareError::AllAttemptsFailed { first_attempt } => transient_attempt(first_attempt),
        _ => false,
    }
}

pub(crate) fn prepare(what: &str, error: PrepareError) -> ViewError {
    classify(transient_prepare(&error), what, error)
}

/// A row the driver could not decode into the expected columns: the schema and
/// this code disagree.
pub(crate) fn decode(what: &str, error: impl std::fmt::Display) -> ViewError {
    ViewError::Corrupt(format!("{what}: {error}"))
}
