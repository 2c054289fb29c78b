#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use diesel::prelude::*;
use promptyard_db_models::models::{Conversation, Message, UsageRecord};
use promptyard_db_models::schema::messages;
use promptyard_repositories::{ConversationRepository, UsageRepository};
use promptyard_test_support::factories::{new_id, now};
use promptyard_test_support::{TestDb, UserFactory};
use std::time::Instant;

fn main() {
    let test_db = TestDb::new();
    let mut conn = test_db.conn();
    let user = UserFactory::new().insert(&mut conn);
    let c = Conversation { id: new_id(), user_id: user.id.clone(), model: "echo-1".into(), title: None, system_prompt: None, created_at: now(), updated_at: now() };
    ConversationRepository::create(&mut conn, &c).unwrap();
    let msg = |role: &str| Message { id: new_id(), conversation_id: c.id.clone(), role: role.into(), content: "hello".into(), prompt_tokens: 0, completion_tokens: 0, created_at: now(), tokens: 1 };
    let usage = || UsageRecord { id: new_id(), user_id: user.id.clone(), model: "echo-1".into(), source: "playground".into(), prompt_tokens: 1, completion_tokens: 1, created_at: now() };
    for variant in ["returning", "execute", "multi-row", "returning", "execute", "multi-row"] {
        let rounds = 200;
        let start = Instant::now();
        for _ in 0..rounds {
            conn.immediate_transaction(|conn| {
                for _ in 0..64 {
                    conn.transaction(|conn| {
                        let (a, b) = (msg("user"), msg("assistant"));
                        match variant {
                            "returning" => { ConversationRepository::add_message(conn, &a)?; ConversationRepository::add_message(conn, &b)?; }
                            "execute" => { diesel::insert_into(messages::table).values(&a).execute(conn).map_err(promptyard_repositories::RepoError::from)?; diesel::insert_into(messages::table).values(&b).execute(conn).map_err(promptyard_repositories::RepoError::from)?; }
                            _ => { diesel::insert_into(messages::table).values(&[a, b]).execute(conn).map_err(promptyard_repositories::RepoError::from)?; }
                        }
                        UsageRepository::record(conn, &usage())?;
                        ConversationRepository::touch(conn, &c.id, now())?;
                        Ok::<_, promptyard_repositories::RepoError>(())
                    })?;
                }
                Ok::<_, promptyard_repositories::RepoError>(())
            }).unwrap();
        }
        println!("{variant}: {:?} per exchange", start.elapsed() / (rounds * 64));
    }
}
