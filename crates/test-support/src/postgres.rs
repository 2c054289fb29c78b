//! PostgreSQL test databases: one database per test, copied from a
//! migrated template, dropped when the test ends.
//!
//! Active when `PROMPTYARD_TEST_POSTGRES_URL` names a server and a
//! database to administer from (say
//! `postgres://postgres@127.0.0.1:5432/postgres`); its user must be
//! allowed to create databases. The template, `promptyard_tpl_<digest>`,
//! is built once per version of the migrations under an advisory lock, so
//! tests in parallel processes (nextest) never build it twice nor copy a
//! half-built one. A copy (`CREATE DATABASE .. TEMPLATE`) takes a few
//! milliseconds, like the SQLite template's file copy.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::MigrationHarness;
use promptyard_db_models::connection::ConnectionOptions;
use promptyard_db_models::{DatabaseUrl, MIGRATIONS_DIGEST, POSTGRES_MIGRATIONS};

/// The variable that turns PostgreSQL test databases on.
pub const POSTGRES_URL_VAR: &str = "PROMPTYARD_TEST_POSTGRES_URL";

/// The administration URL from [`POSTGRES_URL_VAR`], if set and not empty.
pub fn admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// One test's PostgreSQL database; dropped (connections and all) on drop.
#[derive(Debug)]
pub struct PgTestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgTestDatabase {
    /// A fresh migrated database if [`POSTGRES_URL_VAR`] is set.
    pub fn from_env() -> Option<Self> {
        admin_url().map(|admin| Self::create(&admin))
    }

    /// A fresh database on the server `admin` names, copied from the
    /// migrated template.
    ///
    /// # Panics
    /// If the server cannot be reached or refuses to create a database.
    pub fn create(admin: &str) -> Self {
        let template = template(admin);
        Self::copy_of(admin, &template)
    }

    /// A fresh database with no migration applied (a copy of `template0`,
    /// the server's pristine template), for the migration checks.
    ///
    /// # Panics
    /// If the server cannot be reached or refuses to create a database.
    pub fn empty(admin: &str) -> Self {
        Self::copy_of(admin, "template0")
    }

    fn copy_of(admin: &str, template: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "promptyard_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        admin_conn(admin)
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        Self {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new read-write connection, configured like every production one.
    pub fn conn(&self) -> PgConnection {
        let url = DatabaseUrl::parse(&self.url).expect("a PostgreSQL URL");
        promptyard_db_models::open_postgres(&url, &ConnectionOptions::read_write())
            .expect("connect to the test database")
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let dropped = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
            if let Err(err) = dropped {
                eprintln!("could not drop test database {}: {err}", self.name);
            }
        }
    }
}

fn admin_conn(admin: &str) -> PgConnection {
    PgConnection::establish(admin).unwrap_or_else(|e| {
        panic!("{POSTGRES_URL_VAR}: cannot connect ({e}); unset it to test on SQLite only",)
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Whether the server `conn` is connected to has a database `name`.
///
/// # Panics
/// If the catalogue cannot be read.
pub fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Count>(conn)
        .expect("read pg_database")
        .n
        > 0
}

/// The migrated template's name, building it first if no process has.
fn template(admin: &str) -> String {
    let name = format!("promptyard_tpl_{}", MIGRATIONS_DIGEST.to_ascii_lowercase());
    let mut conn = admin_conn(admin);
    // One builder at a time, across processes; released with the session.
    conn.batch_execute("SELECT pg_advisory_lock(7261431)")
        .expect("advisory lock");
    let exists = database_exists(&mut conn, &name);
    if !exists {
        let building = format!("{name}_building");
        // One statement a call: neither may run inside a transaction block.
        for sql in [
            format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
            format!("CREATE DATABASE {building}"),
        ] {
            conn.batch_execute(&sql).expect("create the template");
        }
        {
            let mut template = PgConnection::establish(&with_database(admin, &building))
                .expect("connect to the template");
            template
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .expect("migrate the template");
        }
        conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
            .expect("move the template into place");
    }
    conn.batch_execute("SELECT pg_advisory_unlock(7261431)")
        .expect("advisory unlock");
    name
}

/// `url` with its database (the path) replaced by `database`, its
/// parameters kept.
pub fn with_database(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let rest = &url[authority_start..];
    // The path starts at the first `/` after the host (after any `@`).
    let host_start = rest.rfind('@').map_or(0, |at| at + 1);
    let path_start = rest[host_start..]
        .find(['/', '?'])
        .map_or(rest.len(), |at| host_start + at);
    let query = rest[path_start..]
        .find('?')
        .map_or("", |at| &rest[path_start + at..]);
    format!(
        "{}{}/{database}{query}",
        &url[..authority_start],
        &rest[..path_start]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_parameters_kept() {
        for (url, expected) in [
            ("postgres://u:p@h:5432/postgres", "postgres://u:p@h:5432/t1"),
            (
                "postgres://u@h/postgres?sslmode=disable",
                "postgres://u@h/t1?sslmode=disable",
            ),
            ("postgresql://h", "postgresql://h/t1"),
            ("postgres://u:p/w@h:1/db", "postgres://u:p/w@h:1/t1"),
        ] {
            assert_eq!(with_database(url, "t1"), expected, "{url}");
        }
    }

    #[test]
    fn a_postgres_test_database_is_migrated_isolated_and_dropped() {
        let Some(admin) = admin_url() else {
            eprintln!("{POSTGRES_URL_VAR} is not set: nothing to check on PostgreSQL");
            return;
        };
        let a = PgTestDatabase::create(&admin);
        let b = PgTestDatabase::create(&admin);
        a.conn()
            .batch_execute("CREATE TABLE only_in_a (x INTEGER)")
            .expect("create");
        let tables = |db: &PgTestDatabase| {
            diesel::sql_query(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('users', 'only_in_a')",
            )
            .get_result::<Count>(&mut db.conn())
            .expect("count")
            .n
        };
        assert_eq!((tables(&a), tables(&b)), (2, 1));
        assert!(
            !b.conn()
                .has_pending_migration(POSTGRES_MIGRATIONS)
                .expect("check")
        );

        let name = a.name.clone();
        drop(a);
        assert!(
            !database_exists(&mut admin_conn(&admin), &name),
            "{name} dropped"
        );
    }

    #[test]
    fn an_empty_postgres_test_database_has_no_table_and_is_dropped() {
        let Some(admin) = admin_url() else {
            eprintln!("{POSTGRES_URL_VAR} is not set: nothing to check on PostgreSQL");
            return;
        };
        let empty = PgTestDatabase::empty(&admin);
        let tables = diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .get_result::<Count>(&mut empty.conn())
        .expect("count")
        .n;
        assert_eq!(tables, 0, "no table, not even diesel's");

        let name = empty.name.clone();
        drop(empty);
        assert!(
            !database_exists(&mut admin_conn(&admin), &name),
            "{name} dropped"
        );
    }
}
