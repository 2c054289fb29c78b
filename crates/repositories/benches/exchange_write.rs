//! What storing one playground exchange costs the writer (two messages, a
//! usage record, the conversation's `updated_at`), by how it is written:
//!
//! - one `BEGIN IMMEDIATE` transaction per exchange, or 64 exchanges in one
//!   transaction, each in a savepoint (the writer's group commit);
//! - messages inserted with `RETURNING` (read back) or without.
//!
//! Run: `cargo bench -p promptyard-repositories --bench exchange_write`
//! (time per exchange on one connection of a WAL file with the production
//! PRAGMAs; compare the lines with each other).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use diesel::prelude::*;
use promptyard_db_models::models::{Conversation, Message, UsageRecord};
use promptyard_db_models::schema::messages;
use promptyard_db_models::{DbConn, MultiBackend};
use promptyard_repositories::{
    ConversationRepository, RepoError, UsageRepository, write_transaction,
};
use promptyard_test_support::factories::{new_id, now};
use promptyard_test_support::{TestDb, UserFactory};

const ROUNDS: u32 = 100;
const BATCH: u32 = 64;

fn main() {
    let test_db = TestDb::sqlite();
    let mut conn = test_db.conn();
    let user = UserFactory::new().insert(&mut conn);
    let conversation = Conversation {
        id: new_id().into(),
        user_id: user.id.clone(),
        model: "echo-1".into(),
        title: None,
        system_prompt: None,
        created_at: now(),
        updated_at: now(),
    };
    ConversationRepository::create(&mut conn, &conversation).unwrap();
    let message = |role: &str| Message {
        id: new_id().into(),
        conversation_id: conversation.id.clone(),
        role: role.into(),
        content: "hello".into(),
        prompt_tokens: 0,
        completion_tokens: 0,
        created_at: now(),
        tokens: 1,
    };
    let usage = || UsageRecord {
        id: new_id().into(),
        user_id: user.id.clone(),
        model: "echo-1".into(),
        source: "playground".into(),
        prompt_tokens: 1,
        completion_tokens: 1,
        created_at: now(),
    };
    let exchange = |conn: &mut DbConn, returning: bool| -> Result<(), RepoError> {
        for m in [message("user"), message("assistant")] {
            if returning {
                diesel::insert_into(messages::table)
                    .values(&m)
                    .returning(<Message as Selectable<MultiBackend>>::construct_selection())
                    .get_result::<Message>(conn)?;
            } else {
                ConversationRepository::add_message(conn, &m)?;
            }
        }
        UsageRepository::record(conn, &usage())?;
        ConversationRepository::touch(conn, &conversation.id, now())
    };

    for _ in 0..2 {
        for returning in [true, false] {
            let inserts = if returning {
                "with RETURNING"
            } else {
                "without RETURNING"
            };
            let start = Instant::now();
            for _ in 0..ROUNDS * BATCH {
                write_transaction(&mut conn, |c| exchange(c, returning)).unwrap();
            }
            println!(
                "one transaction per exchange, {inserts}: {:?}",
                start.elapsed() / (ROUNDS * BATCH)
            );
            let start = Instant::now();
            for _ in 0..ROUNDS {
                write_transaction(&mut conn, |c| {
                    for _ in 0..BATCH {
                        c.transaction(|c| exchange(c, returning))?;
                    }
                    Ok::<_, RepoError>(())
                })
                .unwrap();
            }
            println!(
                "{BATCH} exchanges per transaction, each in a savepoint, {inserts}: {:?}",
                start.elapsed() / (ROUNDS * BATCH)
            );
        }
    }
}
