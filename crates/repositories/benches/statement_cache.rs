//! Why the repositories use `get_result` and never `first` for lookups by
//! a unique key: with `select(T::as_select())`, `first()` (which adds
//! `LIMIT ?`) keeps diesel from caching the prepared statement, so SQLite
//! parses and plans the query on every call.
//!
//! Run: `cargo bench -p promptyard-repositories --bench statement_cache`
//! (time per query on one connection; compare the lines with each other).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use diesel::prelude::*;
use promptyard_db_models::models::{Session, User};
use promptyard_db_models::schema::{sessions, users};
use promptyard_test_support::{SessionFactory, TestDb, UserFactory};
use std::time::Instant;

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
    let test_db = TestDb::new();
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
