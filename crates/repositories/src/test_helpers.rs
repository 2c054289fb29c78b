//! Fixtures and assertions shared by the repositories' unit tests.

use std::fmt::Debug;

use chrono::NaiveDate;
use promptyard_db_models::DbConn;
use promptyard_db_models::models::{Timestamp, User};
use promptyard_test_support::{TestDb, UserFactory};

use crate::error::RepoError;

/// 2026-11-25 at `hour:minute:second.milli`, the day every repository test
/// runs on.
pub(crate) fn on_test_day(hour: u32, minute: u32, second: u32, milli: u32) -> Timestamp {
    NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(hour, minute, second, milli))
        .expect("valid time")
}

/// A connection to a fresh migrated database, and the database (kept
/// alive as long as the connection, dropped after it).
pub(crate) fn fresh() -> (DbConn, TestDb) {
    let test_db = TestDb::new();
    (test_db.conn(), test_db)
}

/// `N` new active users with fake data.
pub(crate) fn users<const N: usize>(conn: &mut DbConn) -> [User; N] {
    std::array::from_fn(|_| UserFactory::new().insert(conn))
}

/// Asserts that `result` failed with an error `is_expected` accepts;
/// `case` names the call and `expected` the error wanted.
#[track_caller]
fn assert_fails<T: Debug>(
    result: Result<T, RepoError>,
    case: &str,
    expected: &str,
    is_expected: impl FnOnce(&RepoError) -> bool,
) {
    assert!(
        result.as_ref().is_err_and(is_expected),
        "{case}: expected {expected}, got {result:?}"
    );
}

/// Asserts that `result` is [`RepoError::NotFound`]; `case` names the call.
#[track_caller]
pub(crate) fn assert_not_found<T: Debug>(result: Result<T, RepoError>, case: &str) {
    assert_fails(result, case, "NotFound", RepoError::is_not_found);
}

/// Asserts that `result` is a [`RepoError::UniqueViolation`] of `constraint`.
#[track_caller]
pub(crate) fn assert_unique_violation<T: Debug>(result: Result<T, RepoError>, constraint: &str) {
    assert_fails(
        result,
        constraint,
        "a UniqueViolation",
        |err| matches!(err, RepoError::UniqueViolation { constraint: c } if c == constraint),
    );
}

/// Asserts that `result` is a [`RepoError::ForeignKeyViolation`]; `case`
/// names the call.
#[track_caller]
pub(crate) fn assert_foreign_key_violation<T: Debug>(result: Result<T, RepoError>, case: &str) {
    assert_fails(result, case, "ForeignKeyViolation", |err| {
        matches!(err, RepoError::ForeignKeyViolation)
    });
}

/// Asserts that `result` is a [`RepoError::Unexpected`] (a CHECK constraint
/// the table enforces); `case` names the call.
#[track_caller]
pub(crate) fn assert_unexpected<T: Debug>(result: Result<T, RepoError>, case: &str) {
    assert_fails(result, case, "Unexpected", |err| {
        matches!(err, RepoError::Unexpected(_))
    });
}

/// Calls a batched delete `batches` times and returns how many rows each
/// call removed.
pub(crate) fn delete_in_batches(
    batches: usize,
    mut delete: impl FnMut() -> Result<usize, RepoError>,
) -> Vec<usize> {
    (1..=batches)
        .map(|batch| delete().unwrap_or_else(|err| panic!("batch {batch}: {err:?}")))
        .collect()
}
