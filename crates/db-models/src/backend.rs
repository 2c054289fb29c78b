//! [`DbConn`]: the one connection type every repository takes, over either
//! backend. diesel's `MultiConnection` derive builds it: a query written once
//! against [`MultiBackend`] runs on a SQLite or a PostgreSQL connection,
//! and the few statements that must differ match on the variant (the
//! repositories' `backend` module).

/// A connection to SQLite or to PostgreSQL.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// A SQLite file, configured by [`crate::connection`].
    Sqlite(diesel::SqliteConnection),
    /// A PostgreSQL server.
    Postgres(diesel::PgConnection),
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "DbConn::Sqlite",
            Self::Postgres(_) => "DbConn::Postgres",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::DbConn;
    use crate::connection::{ConnectionOptions, open};

    #[test]
    fn debug_names_the_backend_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret-name.db");
        let conn = DbConn::Sqlite(
            open(
                path.to_str().expect("utf-8"),
                &ConnectionOptions::read_write(),
            )
            .expect("open"),
        );
        assert_eq!(format!("{conn:?}"), "DbConn::Sqlite");
    }
}
