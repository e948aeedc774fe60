use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A write's expectation did not hold (the record changed, exists, or is gone); nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend could not be reached or did not answer in time; the caller may retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A change is larger than the backend can write at once (Cosmos DB: 2 MB per batch); nothing was written.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A record could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(err.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(err.to_string()),
            _ => StoreError::Backend(err.to_string()),
        }
    }
}
