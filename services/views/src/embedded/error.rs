//! Failures inside the embedded adapter, and what the port makes of them.

use crate::ViewError;

#[derive(Debug, thiserror::Error)]
pub(super) enum EmbeddedError {
    #[error(transparent)]
    Db(#[from] redb::Error),
    #[error("{0}")]
    Corrupt(String),
}

/// redb reports each step (transaction, table, storage, commit) with its own type.
macro_rules! from_redb {
    ($($kind:ty),*) => {$(
        impl From<$kind> for EmbeddedError {
            fn from(e: $kind) -> Self {
                EmbeddedError::Db(e.into())
            }
        }
    )*};
}

from_redb!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

impl From<EmbeddedError> for ViewError {
    fn from(e: EmbeddedError) -> Self {
        match e {
            // Another handle of this process (or another process) holds the file.
            EmbeddedError::Db(redb::Error::DatabaseAlreadyOpen) => ViewError::Unavailable(e.to_string()),
            EmbeddedError::Db(e) => ViewError::Storage(e.to_string()),
            EmbeddedError::Corrupt(message) => ViewError::Corrupt(message),
        }
    }
}
