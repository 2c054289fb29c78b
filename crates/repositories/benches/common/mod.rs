//! What the `Db` benchmarks share: the operations they time and the
//! baseline every figure is a ratio to.

use std::time::{Duration, Instant};

use diesel::Connection;
use promptyard_db_models::DbConn;
use promptyard_db_models::ids::UserId;
use promptyard_repositories::{UserRepository, write_transaction};
use promptyard_test_support::UserFactory;

/// A point read of a user, or the insert of one in a write transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
}

/// The baseline: `op` on one connection in a loop on this thread (no
/// pool, no thread hop, no concurrency) for `window`; operations a second.
/// Reads pick users of `ids` in a fixed scattered order; with
/// `read_in_transaction` each read is a transaction of its own.
pub(crate) fn one_connection_rate(
    conn: &mut DbConn,
    ids: &[UserId],
    op: Op,
    read_in_transaction: bool,
    window: Duration,
) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..100 {
            match op {
                Op::Read => {
                    let id = &ids[(n as usize * 7919) % ids.len()];
                    if read_in_transaction {
                        conn.transaction(|c| UserRepository::get_by_id(c, id))
                            .unwrap();
                    } else {
                        UserRepository::get_by_id(conn, id).unwrap();
                    }
                }
                Op::Write => {
                    let new = UserFactory::new().build();
                    write_transaction(conn, |c| UserRepository::create(c, &new)).unwrap();
                }
            }
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}
