//! The `login_failures` table: the brute-force counter, one row per email.
//!
//! A window opens at an email's first counted login attempt and lasts
//! `window`; every attempt inside it adds one, before its password is
//! checked, and an attempt that was not a failure gives its one back. The
//! row lives in the database, so every server process on the same file
//! shares the count.

use chrono::TimeDelta;
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel::upsert::excluded;
use promptyard_db_models::DbConn;
use promptyard_db_models::models::{LoginFailure, Timestamp};
use promptyard_db_models::schema::login_failures;

use crate::backend::per_backend;
use crate::error::{RepoError, Run as _, delete_at_or_before};

/// Queries on `login_failures`.
#[derive(Debug, Clone, Copy)]
pub struct LoginFailureRepository;

impl LoginFailureRepository {
    /// The failures recorded for `email`, if any (whatever their window).
    pub fn get(conn: &mut DbConn, email: &str) -> Result<LoginFailure, RepoError> {
        login_failures::table.find(email).select_one(conn)
    }

    /// Counts one login attempt for `email` at `now`, before its password
    /// is checked: adds one to the count if its window (of length
    /// `window`) is still open, else opens a new window with a count of
    /// one. The count stops at `cap` (the limit plus one: enough to say
    /// "over", and it cannot grow without bound). Returns the row as it
    /// now stands.
    ///
    /// One statement (an upsert that returns the new count), so of any
    /// number of simultaneous attempts, in this process or another, each
    /// sees a count of its own: the caller checks the password only if
    /// that count is within the limit. An attempt that turns out not to be
    /// a failure gives its count back ([`release`](Self::release)) or
    /// clears the row ([`clear`](Self::clear)).
    pub fn reserve(
        conn: &mut DbConn,
        email: &str,
        now: Timestamp,
        window: TimeDelta,
        cap: i32,
    ) -> Result<LoginFailure, RepoError> {
        let open = login_failures::window_started_at.gt(now - window);
        let counted = case_when(
            login_failures::failures.lt(cap),
            login_failures::failures + 1,
        )
        .otherwise(login_failures::failures);
        // `ON CONFLICT` is no SQL of `MultiBackend`: the same statement,
        // built once per backend.
        per_backend!(conn, |c| diesel::insert_into(login_failures::table)
            .values(&LoginFailure {
                email: email.to_owned(),
                failures: 1,
                window_started_at: now,
            })
            .on_conflict(login_failures::email)
            .do_update()
            .set((
                login_failures::failures
                    .eq(case_when(open, counted).otherwise(1.into_sql::<Integer>())),
                login_failures::window_started_at.eq(case_when(
                    open,
                    login_failures::window_started_at,
                )
                .otherwise(excluded(login_failures::window_started_at))),
            ))
            .returning(LoginFailure::as_returning())
            .one(c))
    }

    /// Gives back one attempt counted by [`reserve`](Self::reserve) that
    /// was not a failure (its password was not checked, or was right); the
    /// row goes when its count would reach zero.
    ///
    /// Two statements: run it inside `Db::write`, which makes them one
    /// transaction.
    pub fn release(conn: &mut DbConn, email: &str) -> Result<(), RepoError> {
        let lowered = diesel::update(
            login_failures::table
                .find(email)
                .filter(login_failures::failures.gt(1)),
        )
        .set(login_failures::failures.eq(login_failures::failures - 1))
        .execute(conn)?;
        if lowered == 0 {
            diesel::delete(login_failures::table.find(email)).execute(conn)?;
        }
        Ok(())
    }

    /// Forgets the failures of `email` (after a successful login).
    pub fn clear(conn: &mut DbConn, email: &str) -> Result<(), RepoError> {
        diesel::delete(login_failures::table.find(email)).execute(conn)?;
        Ok(())
    }

    /// Deletes up to `limit` rows whose window opened at or before `cutoff`
    /// (callers pass `now - window`); returns how many.
    pub fn delete_expired(
        conn: &mut DbConn,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<usize, RepoError> {
        delete_at_or_before!(
            conn,
            login_failures,
            email,
            window_started_at <= cutoff,
            limit limit
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::test_helpers::{assert_not_found, delete_in_batches, fresh, on_test_day};

    use super::*;

    fn t0() -> Timestamp {
        on_test_day(12, 0, 0, 0)
    }

    const WINDOW: TimeDelta = TimeDelta::minutes(15);
    const CAP: i32 = 1000;

    /// Counts one attempt for `email` at `at` with the default window and
    /// cap; returns the row as it now stands.
    fn reserve(conn: &mut DbConn, email: &str, at: Timestamp) -> LoginFailure {
        LoginFailureRepository::reserve(conn, email, at, WINDOW, CAP)
            .unwrap_or_else(|err| panic!("reserve {email} at {at}: {err:?}"))
    }

    #[test]
    fn failures_inside_the_window_add_up() {
        let (conn, _db) = &mut fresh();

        for i in 0..3 {
            let row = reserve(conn, "ada@example.com", t0() + TimeDelta::minutes(i));
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
        let (conn, _db) = &mut fresh();
        reserve(conn, "ada@example.com", t0());
        reserve(conn, "ada@example.com", t0());

        let later = t0() + WINDOW;
        let row = reserve(conn, "ada@example.com", later);

        assert_eq!(row.failures, 1);
        assert_eq!(row.window_started_at, later);
    }

    #[test]
    fn emails_are_counted_apart_and_case_insensitively() {
        let (conn, _db) = &mut fresh();
        reserve(conn, "ada@example.com", t0());
        reserve(conn, "grace@example.com", t0());

        let row = LoginFailureRepository::get(conn, "ADA@example.com").expect("case-insensitive");

        assert_eq!(row.failures, 1);
        assert_eq!(row.email, "ada@example.com");

        LoginFailureRepository::clear(conn, "ada@example.com").expect("clear");
        LoginFailureRepository::clear(conn, "nobody@example.com")
            .expect("clearing nothing is fine");

        assert_not_found(LoginFailureRepository::get(conn, "ada@example.com"), "gone");
        assert!(LoginFailureRepository::get(conn, "grace@example.com").is_ok());
    }

    #[test]
    fn release_gives_one_attempt_back_and_the_row_goes_at_zero() {
        let (conn, _db) = &mut fresh();
        for _ in 0..2 {
            reserve(conn, "ada@example.com", t0());
        }

        LoginFailureRepository::release(conn, "ada@example.com").expect("release");
        let row = LoginFailureRepository::get(conn, "ada@example.com").expect("row");
        assert_eq!(row.failures, 1);
        LoginFailureRepository::release(conn, "ada@example.com").expect("the last one");
        LoginFailureRepository::release(conn, "ada@example.com").expect("no row is fine");

        let gone = LoginFailureRepository::get(conn, "ada@example.com");
        assert_not_found(gone, "gone at zero");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simultaneous_reservations_from_two_processes_each_get_a_count_of_their_own() {
        let (_, test_db) = fresh();
        // Two handles on one file, as two server processes would have.
        let open = || {
            let url = crate::DatabaseUrl::parse(test_db.url()).expect("url");
            crate::Db::open(crate::DbConfig::for_url(url)).expect("open")
        };
        let (first, second) = (open(), open());
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..30 {
            let db = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.spawn(async move {
                db.write(|conn| {
                    LoginFailureRepository::reserve(conn, "ada@example.com", t0(), WINDOW, CAP)
                })
                .await
                .expect("reserve")
                .failures
            });
        }

        let mut counts = tasks.join_all().await;
        counts.sort_unstable();

        assert_eq!(counts, (1..=30).collect::<Vec<_>>());
    }

    #[test]
    fn the_count_stops_at_its_cap() {
        let (conn, _db) = &mut fresh();

        let counts: Vec<i32> = (0..5)
            .map(|_| {
                LoginFailureRepository::reserve(conn, "ada@example.com", t0(), WINDOW, 3)
                    .expect("reserve")
                    .failures
            })
            .collect();

        assert_eq!(counts, [1, 2, 3, 3, 3]);
    }

    #[test]
    fn delete_expired_removes_closed_windows_in_batches() {
        let (conn, _db) = &mut fresh();
        for (i, email) in ["a@x.io", "b@x.io", "c@x.io"].iter().enumerate() {
            let at = t0() - WINDOW - TimeDelta::minutes(i64::try_from(i).expect("small"));
            reserve(conn, email, at);
        }
        reserve(conn, "d@x.io", t0());

        let cutoff = t0() - WINDOW;
        let batches = delete_in_batches(3, || {
            LoginFailureRepository::delete_expired(conn, cutoff, 2)
        });
        assert_eq!(batches, [2, 1, 0]);
        assert!(LoginFailureRepository::get(conn, "d@x.io").is_ok());
    }
}
