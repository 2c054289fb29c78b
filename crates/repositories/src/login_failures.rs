//! The `login_failures` table: the brute-force counter, one row per email.
//!
//! A window opens at an email's first failed login and lasts `window`; every
//! failure inside it adds one. The row lives in the database, so every
//! server process on the same file shares the count.

use chrono::TimeDelta;
use diesel::prelude::*;
use promptyard_db_models::models::{LoginFailure, Timestamp};
use promptyard_db_models::schema::login_failures;

use crate::error::RepoError;

/// Queries on `login_failures`.
#[derive(Debug, Clone, Copy)]
pub struct LoginFailureRepository;

impl LoginFailureRepository {
    /// The failures recorded for `email`, if any (whatever their window).
    pub fn get(conn: &mut SqliteConnection, email: &str) -> Result<LoginFailure, RepoError> {
        login_failures::table
            .find(email)
            .select(LoginFailure::as_select())
            .get_result(conn)
            .map_err(RepoError::from)
    }

    /// Records one failed login for `email` at `now`: adds one to the count
    /// if its window (of length `window`) is still open, else opens a new
    /// window with a count of one. Returns the row as it now stands.
    ///
    /// Two statements: run it inside `Db::write`, which makes them one
    /// transaction.
    pub fn record(
        conn: &mut SqliteConnection,
        email: &str,
        now: Timestamp,
        window: TimeDelta,
    ) -> Result<LoginFailure, RepoError> {
        let current = login_failures::table
            .find(email)
            .select(LoginFailure::as_select())
            .get_result(conn)
            .optional()?;
        let next = match current {
            Some(row) if row.window_started_at + window > now => LoginFailure {
                failures: row.failures.saturating_add(1),
                ..row
            },
            _ => LoginFailure {
                email: email.to_owned(),
                failures: 1,
                window_started_at: now,
            },
        };
        diesel::replace_into(login_failures::table)
            .values(&next)
            .execute(conn)?;
        Ok(next)
    }

    /// Forgets the failures of `email` (after a successful login).
    pub fn clear(conn: &mut SqliteConnection, email: &str) -> Result<(), RepoError> {
        diesel::delete(login_failures::table.find(email)).execute(conn)?;
        Ok(())
    }

    /// Deletes up to `limit` rows whose window opened at or before `cutoff`
    /// (callers pass `now - window`); returns how many.
    pub fn delete_expired(
        conn: &mut SqliteConnection,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<usize, RepoError> {
        let expired: Vec<String> = login_failures::table
            .filter(login_failures::window_started_at.le(cutoff))
            .select(login_failures::email)
            .limit(limit)
            .load(conn)?;
        if expired.is_empty() {
            return Ok(0);
        }
        diesel::delete(login_failures::table.filter(login_failures::email.eq_any(&expired)))
            .execute(conn)
            .map_err(RepoError::from)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use promptyard_test_support::TestDb;

    use super::*;

    fn t0() -> Timestamp {
        NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_milli_opt(12, 0, 0, 0))
            .expect("valid time")
    }

    const WINDOW: TimeDelta = TimeDelta::minutes(15);

    #[test]
    fn failures_inside_the_window_add_up() {
        let test_db = TestDb::new();
        let conn = &mut test_db.conn();

        for i in 0..3 {
            let row = LoginFailureRepository::record(
                conn,
                "ada@example.com",
                t0() + TimeDelta::minutes(i),
                WINDOW,
            )
            .expect("record");
            assert_eq!(row.failures, i32::try_from(i).expect("small") + 1);
            assert_eq!(
                row.window_started_at,
                t0(),
                "the window opened at the first"
            );
        }
        let stored = LoginFailureRepository::get(conn, "ada@example.com").expect("get");
        assert_eq!(stored.failures, 3);
    }

    #[test]
    fn a_failure_after_the_window_opens_a_new_one() {
        let test_db = TestDb::new();
        let conn = &mut test_db.conn();
        LoginFailureRepository::record(conn, "ada@example.com", t0(), WINDOW).expect("1");
        LoginFailureRepository::record(conn, "ada@example.com", t0(), WINDOW).expect("2");

        let later = t0() + WINDOW;
        let row = LoginFailureRepository::record(conn, "ada@example.com", later, WINDOW)
            .expect("new window");

        assert_eq!(row.failures, 1);
        assert_eq!(row.window_started_at, later);
    }

    #[test]
    fn emails_are_counted_apart_and_case_insensitively() {
        let test_db = TestDb::new();
        let conn = &mut test_db.conn();
        LoginFailureRepository::record(conn, "ada@example.com", t0(), WINDOW).expect("ada");
        LoginFailureRepository::record(conn, "grace@example.com", t0(), WINDOW).expect("grace");

        let row = LoginFailureRepository::get(conn, "ADA@example.com").expect("case-insensitive");

        assert_eq!(row.failures, 1);
        assert_eq!(row.email, "ada@example.com");
    }

    #[test]
    fn clear_forgets_one_email() {
        let test_db = TestDb::new();
        let conn = &mut test_db.conn();
        LoginFailureRepository::record(conn, "ada@example.com", t0(), WINDOW).expect("ada");
        LoginFailureRepository::record(conn, "grace@example.com", t0(), WINDOW).expect("grace");

        LoginFailureRepository::clear(conn, "ada@example.com").expect("clear");
        LoginFailureRepository::clear(conn, "nobody@example.com")
            .expect("clearing nothing is fine");

        assert!(
            LoginFailureRepository::get(conn, "ada@example.com")
                .expect_err("gone")
                .is_not_found()
        );
        assert!(LoginFailureRepository::get(conn, "grace@example.com").is_ok());
    }

    #[test]
    fn delete_expired_removes_closed_windows_in_batches() {
        let test_db = TestDb::new();
        let conn = &mut test_db.conn();
        for (i, email) in ["a@x.io", "b@x.io", "c@x.io"].iter().enumerate() {
            let at = t0() - WINDOW - TimeDelta::minutes(i64::try_from(i).expect("small"));
            LoginFailureRepository::record(conn, email, at, WINDOW).expect("old");
        }
        LoginFailureRepository::record(conn, "d@x.io", t0(), WINDOW).expect("open");

        let cutoff = t0() - WINDOW;
        assert_eq!(
            LoginFailureRepository::delete_expired(conn, cutoff, 2).expect("1"),
            2
        );
        assert_eq!(
            LoginFailureRepository::delete_expired(conn, cutoff, 2).expect("2"),
            1
        );
        assert_eq!(
            LoginFailureRepository::delete_expired(conn, cutoff, 2).expect("3"),
            0
        );
        assert!(LoginFailureRepository::get(conn, "d@x.io").is_ok());
    }
}
