//! Why the repositories use `get_result` and never `first` for lookups by
//! a unique key: with `select(T::as_select())`, `first()` (which adds
//! `LIMIT ?`) keeps diesel from caching the prepared statement, so SQLite
//! parses and plans the query on every call.
//!
//! Then what the repositories' connection type costs on SQLite: a lookup of
//! a user by id and an insert of a user, as plain diesel on a bare
//! `SqliteConnection`, through the repository on a [`DbConn`] (diesel's
//! `MultiConnection`), and as the same plain diesel on the `DbConn`; the
//! variants interleaved over three rounds, each a ratio to the bare
//! connection of its round.
//!
//! Run: `cargo bench -p promptyard-repositories --bench statement_cache`
//! (time per query on one connection; compare the lines with each other).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use promptyard_db_models::models::{NewUser, Session, User};
use promptyard_db_models::schema::{sessions, users};
use promptyard_db_models::{DbConn, MultiBackend};
use promptyard_repositories::{UserRepository, write_transaction};
use promptyard_test_support::{SessionFactory, TestDb, UserFactory};
use std::cell::RefCell;
use std::time::{Duration, Instant};

fn bench(label: &str, mut f: impl FnMut()) {
    // Warm the statement cache first.
    for _ in 0..2000 {
        f();
    }
    let start = Instant::now();
    for _ in 0..20000 {
        f();
    }
    println!("{label}: {:?}", start.elapsed() / 20000);
}

/// `sessions ⋈ users` for the session `$id`, both rows selected.
macro_rules! session_with_user {
    ($id:expr) => {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq($id))
            .select((Session::as_select(), User::as_select()))
    };
}

/// [`session_with_user!`] narrowed as `get_valid_for_active_user` narrows
/// it: not expired at `$now`, the user active.
macro_rules! valid_session_with_active_user {
    ($id:expr, $now:expr) => {
        session_with_user!($id)
            .filter(sessions::expires_at.gt($now))
            .filter(users::is_active.eq(true))
    };
}

fn main() {
    statement_cache();
    db_conn_against_sqlite_connection();
}

fn statement_cache() {
    let test_db = TestDb::sqlite();
    let mut conn = test_db.conn();
    let user = UserFactory::new().insert(&mut conn);
    let s = SessionFactory::for_user(&user).insert(&mut conn);
    let now = promptyard_test_support::factories::now();
    let id = s.id.clone();
    let user_by_id = || users::table.find(&user.id).select(User::as_select());
    bench("session state by id, first()", || {
        sessions::table
            .find(&id)
            .select(sessions::state)
            .first::<String>(&mut conn)
            .unwrap();
    });
    bench("session as_select by id, first()", || {
        sessions::table
            .find(&id)
            .select(Session::as_select())
            .first(&mut conn)
            .unwrap();
    });
    bench("session 3-column tuple by id, first()", || {
        sessions::table
            .find(&id)
            .select((sessions::id, sessions::user_id, sessions::state))
            .first::<(String, String, String)>(&mut conn)
            .unwrap();
    });
    bench("session state by id and expires_at > now, first()", || {
        sessions::table
            .find(&id)
            .filter(sessions::expires_at.gt(now))
            .select(sessions::state)
            .first::<String>(&mut conn)
            .unwrap();
    });
    bench("session ⋈ user, as_select, first()", || {
        session_with_user!(&id)
            .first::<(Session, User)>(&mut conn)
            .unwrap();
    });
    bench(
        "session ⋈ user, as_select, expiry and is_active filters, get_result()",
        || {
            valid_session_with_active_user!(&id, now)
                .get_result::<(Session, User)>(&mut conn)
                .unwrap();
        },
    );
    bench("user as_select by id, get_result()", || {
        user_by_id().get_result::<User>(&mut conn).unwrap();
    });
    bench("user as_select by id, first()", || {
        user_by_id().first::<User>(&mut conn).unwrap();
    });
    bench(
        "the same get_result() inside a deferred transaction (what Db::read adds)",
        || {
            conn.transaction(|c| {
                valid_session_with_active_user!(&id, now).get_result::<(Session, User)>(c)
            })
            .unwrap();
        },
    );
    bench("session ⋈ user, as_select, load()", || {
        session_with_user!(&id)
            .load::<(Session, User)>(&mut conn)
            .unwrap();
    });
}

/// Rounds of [`db_conn_against_sqlite_connection`], each timing every
/// variant in [`SLICES`] slices taken in turn (the order rotating), so
/// that a burst of load elsewhere on the machine falls on all of them.
const ROUNDS: usize = 3;
const SLICES: u32 = 20;
/// Lookups per variant and round (after as many again to warm up).
const READS: u32 = 100_000;
/// Inserts per variant and round (after [`WARM_WRITES`] to warm up).
const WRITES: u32 = 10_000;
const WARM_WRITES: u32 = 1_000;

/// One way of doing the operation under test: its label and the closure
/// that does it once.
type Variant<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Time of `n` calls of `f`.
fn time(n: u32, f: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed()
}

/// Runs `variants` over [`ROUNDS`] rounds, `n` calls each per round in
/// [`SLICES`] interleaved slices, and prints a Markdown table: µs per
/// operation, and the ratio to the first variant (the baseline) of the
/// same round.
fn interleaved(what: &str, n: u32, warm: u32, variants: &mut [Variant<'_>]) {
    for (_, f) in variants.iter_mut() {
        time(warm, f);
    }
    let count = variants.len();
    // times[round][variant], per operation
    let times: Vec<Vec<Duration>> = (0..ROUNDS)
        .map(|round| {
            let mut row = vec![Duration::ZERO; count];
            for slice in 0..SLICES as usize {
                for k in 0..count {
                    let i = (k + round + slice) % count;
                    row[i] += time(n / SLICES, &mut variants[i].1);
                }
            }
            row.iter().map(|&total| total / n).collect()
        })
        .collect();
    println!("\n{what}, µs per operation (× the first line, same round):\n");
    let rounds: Vec<_> = (1..=ROUNDS).map(|r| format!("round {r}")).collect();
    println!(
        "| how | {} | × baseline, rounds 1–{ROUNDS} |",
        rounds.join(" | ")
    );
    println!("|---|{}---|", "---:|".repeat(ROUNDS));
    for (i, (label, _)) in variants.iter().enumerate() {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let us: Vec<_> = times
            .iter()
            .map(|row| format!("{:.2}", micros(row[i])))
            .collect();
        let ratios: Vec<_> = times
            .iter()
            .map(|row| format!("{:.2}", micros(row[i]) / micros(row[0])))
            .collect();
        println!("| {label} | {} | {} |", us.join(" | "), ratios.join(", "));
    }
}

/// What the repositories' `&mut DbConn` costs against the bare
/// `SqliteConnection` they took before, on the same database: (a) plain
/// diesel on a `SqliteConnection`, (b) the repository on a `DbConn`, (c) the
/// same plain diesel on the `DbConn`. (b) − (c) is the repository's own
/// cost, (c) − (a) the `MultiConnection`'s.
fn db_conn_against_sqlite_connection() {
    let test_db = TestDb::sqlite();
    let mut conn = test_db.conn();
    let id = UserFactory::new().insert(&mut conn).id;
    // Two connections to the one file; (b) and (c) share the `DbConn`.
    let raw = RefCell::new(test_db.sqlite_conn());
    let conn = RefCell::new(conn);

    interleaved(
        "User by id",
        READS,
        READS,
        &mut [
            (
                "(a) plain diesel, `SqliteConnection`",
                Box::new(|| {
                    users::table
                        .find(&id)
                        .select(User::as_select())
                        .get_result::<User>(&mut *raw.borrow_mut())
                        .unwrap();
                }),
            ),
            (
                "(b) `UserRepository::get_by_id`, `DbConn`",
                Box::new(|| {
                    UserRepository::get_by_id(&mut conn.borrow_mut(), &id).unwrap();
                }),
            ),
            (
                "(c) plain diesel, `DbConn`",
                Box::new(|| {
                    users::table
                        .find(&id)
                        .select(User::as_select())
                        .get_result::<User>(&mut *conn.borrow_mut())
                        .unwrap();
                }),
            ),
        ],
    );

    // Rows built before the clock starts: a fresh id and email per insert.
    // `RETURNING` the bare columns on both connections (what the
    // repositories and test-support do on `DbConn`).
    let rows = |n| {
        (0..n)
            .map(|_| UserFactory::new().build())
            .collect::<Vec<NewUser>>()
            .into_iter()
    };
    let total = WARM_WRITES + WRITES * u32::try_from(ROUNDS).unwrap();
    let (mut rows_a, mut rows_b, mut rows_c) = (rows(total), rows(total), rows(total));
    interleaved(
        "Insert of a user, one write transaction each (`BEGIN IMMEDIATE`)",
        WRITES,
        WARM_WRITES,
        &mut [
            (
                "(a) plain diesel, `SqliteConnection::immediate_transaction`",
                Box::new(|| {
                    let new = rows_a.next().unwrap();
                    raw.borrow_mut()
                        .immediate_transaction(|c| {
                            diesel::insert_into(users::table)
                                .values(&new)
                                .returning(<User as Selectable<Sqlite>>::construct_selection())
                                .get_result::<User>(c)
                        })
                        .unwrap();
                }),
            ),
            (
                "(b) `UserRepository::create` in `write_transaction`, `DbConn`",
                Box::new(|| {
                    let new = rows_b.next().unwrap();
                    write_transaction(&mut conn.borrow_mut(), |c| UserRepository::create(c, &new))
                        .unwrap();
                }),
            ),
            (
                "(c) plain diesel in `write_transaction`, `DbConn`",
                Box::new(|| {
                    let new = rows_c.next().unwrap();
                    write_transaction(&mut conn.borrow_mut(), |c: &mut DbConn| {
                        diesel::insert_into(users::table)
                            .values(&new)
                            .returning(<User as Selectable<MultiBackend>>::construct_selection())
                            .get_result::<User>(c)
                    })
                    .unwrap();
                }),
            ),
        ],
    );
}
