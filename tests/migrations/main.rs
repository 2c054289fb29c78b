//! The embedded migrations, tested both ways on real WAL files.

mod migrations;
