use super::*;
use diesel::result::DatabaseErrorInformation;

/// A database error's message, and the constraint PostgreSQL names.
struct Info(&'static str, Option<&'static str>);

impl DatabaseErrorInformation for Info {
    fn message(&self) -> &str {
        self.0
    }
    fn details(&self) -> Option<&str> {
        None
    }
    fn hint(&self) -> Option<&str> {
        None
    }
    fn table_name(&self) -> Option<&str> {
        None
    }
    fn column_name(&self) -> Option<&str> {
        None
    }
    fn constraint_name(&self) -> Option<&str> {
        self.1
    }
    fn statement_position(&self) -> Option<i32> {
        None
    }
}

fn db_error(kind: DatabaseErrorKind, message: &'static str) -> RepoError {
    DieselError::DatabaseError(kind, Box::new(Info(message, None))).into()
}

#[test]
fn not_found_maps_to_not_found() {
    assert!(RepoError::from(DieselError::NotFound).is_not_found());
}

#[test]
fn unique_violations_name_the_constraint() {
    let err = db_error(
        DatabaseErrorKind::UniqueViolation,
        "UNIQUE constraint failed: users.email",
    );
    assert!(
        matches!(&err, RepoError::UniqueViolation { constraint } if constraint == "users.email"),
        "{err:?}"
    );
}

#[test]
fn postgres_unique_violations_are_named_as_sqlite_names_them() {
    let constraint_of = |name: Option<&'static str>| {
        let info = Info("duplicate key value violates unique constraint", name);
        match RepoError::from(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(info),
        )) {
            RepoError::UniqueViolation { constraint } => constraint,
            other => panic!("{other:?}"),
        }
    };
    for (postgres, ours) in POSTGRES_UNIQUE_NAMES {
        assert_eq!(constraint_of(Some(postgres)), *ours, "{postgres}");
    }
    assert_eq!(
        constraint_of(Some("a_new_key")),
        "a_new_key",
        "unknown: as is"
    );
    assert_eq!(
        constraint_of(None),
        "duplicate key value violates unique constraint",
        "no name: the message"
    );
}

#[test]
fn foreign_key_violations_map_to_their_variant() {
    let err = db_error(
        DatabaseErrorKind::ForeignKeyViolation,
        "FOREIGN KEY constraint failed",
    );
    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
}

#[test]
fn each_sqlite_availability_message_maps_to_its_reason() {
    for (message, reason) in UNAVAILABLE_MESSAGES {
        let err = db_error(DatabaseErrorKind::Unknown, message);
        assert!(
            matches!(&err, RepoError::Unavailable { reason: r, source: Some(_) } if r == reason),
            "{message}: {err:?}"
        );
    }
}

#[test]
fn read_only_transactions_and_serialization_failures_are_unavailable() {
    for (kind, reason) in [
        (
            DatabaseErrorKind::ReadOnlyTransaction,
            Unavailable::ReadOnly,
        ),
        (DatabaseErrorKind::SerializationFailure, Unavailable::Busy),
    ] {
        let err = db_error(kind, "a message in no list");
        assert!(
            matches!(&err, RepoError::Unavailable { reason: r, source: Some(_) } if *r == reason),
            "{err:?}"
        );
    }
}

#[test]
fn each_predicate_is_true_of_its_own_variant_only() {
    let errors = [
        RepoError::NotFound,
        RepoError::unavailable(Unavailable::Busy, "locked"),
        RepoError::ForeignKeyViolation,
        RepoError::unexpected("other"),
    ];
    let answers: Vec<(bool, bool)> = errors
        .iter()
        .map(|e| (e.is_not_found(), e.is_unavailable()))
        .collect();
    assert_eq!(
        answers,
        [(true, false), (false, true), (false, false), (false, false)]
    );
}

#[test]
fn a_closed_connection_is_unavailable() {
    let err = db_error(DatabaseErrorKind::ClosedConnection, "closed");
    assert!(err.is_unavailable(), "{err:?}");
}

#[test]
fn other_errors_are_unexpected_and_keep_their_source() {
    let err = db_error(
        DatabaseErrorKind::CheckViolation,
        "CHECK constraint failed: x",
    );
    assert!(matches!(err, RepoError::Unexpected(_)), "{err:?}");
    let source = std::error::Error::source(&err).expect("source kept");
    assert!(source.to_string().contains("CHECK constraint failed"));

    let err = RepoError::from(DieselError::RollbackTransaction);
    assert!(matches!(err, RepoError::Unexpected(_)), "{err:?}");
}

#[test]
fn optional_turns_only_not_found_into_none() {
    assert_eq!(Ok::<_, RepoError>(1).optional().ok(), Some(Some(1)));
    assert!(matches!(
        Err::<i32, _>(RepoError::NotFound).optional(),
        Ok(None)
    ));
    assert!(
        Err::<i32, _>(RepoError::ForeignKeyViolation)
            .optional()
            .is_err()
    );
}

#[test]
fn unavailable_reasons_read_as_sentences() {
    let err = RepoError::unavailable(Unavailable::DiskFull, "x");
    assert_eq!(err.to_string(), "database unavailable: disk is full");
    assert_eq!(
        Unavailable::Timeout.to_string(),
        "timed out waiting for a connection"
    );
}
