use std::collections::HashMap;
use std::time::Duration as StdDuration;

use actix_session::storage::{SessionKey, SessionStore};
use actix_web::cookie::time::Duration;
use promptyard_db_models::models::User;
use promptyard_services::{AuthUser, RepoError, SessionId, session_id};
use promptyard_test_support::UserFactory;

use super::*;
use crate::test_app::{TestState, hold_a_reader, start, test_state};

const TTL: StdDuration = StdDuration::from_secs(3600);

fn key(text: &str) -> SessionKey {
    SessionKey::try_from(text.to_owned()).expect("key")
}

/// A test state with one user and a live session of theirs.
struct WithSession {
    t: TestState,
    user: User,
    created: promptyard_services::SessionKey,
    store: DbSessionStore,
}

/// A fresh test state, a user with a session created through the service,
/// and a store over the state's sessions.
async fn with_a_session() -> WithSession {
    let t = test_state();
    let user = UserFactory::new().insert(&mut t.test_db.conn());
    let created = t
        .state
        .sessions
        .create(&user.id, None, TTL, None)
        .await
        .expect("create");
    let store = DbSessionStore::new(t.state.sessions.clone());
    WithSession {
        t,
        user,
        created,
        store,
    }
}

#[actix_web::test]
async fn load_hands_the_live_user_and_the_session_id_to_the_handlers() {
    let WithSession {
        t: _t,
        user,
        created,
        store,
    } = with_a_session().await;

    let state = store
        .load(&key(created.expose()))
        .await
        .expect("load")
        .expect("found");

    let loaded_user: AuthUser = serde_json::from_str(&state[USER]).expect("user");
    assert_eq!(loaded_user.id, user.id);
    assert_eq!(loaded_user.email, user.email);
    let sid: SessionId = serde_json::from_str(&state[SESSION_ID]).expect("sid");
    assert_eq!(sid, session_id(created.expose()));
    assert!(store.load(&key("unknown")).await.expect("load").is_none());
}

#[actix_web::test]
async fn a_load_that_cannot_reach_the_database_marks_the_state_instead_of_failing() {
    let t = test_state();
    let db = t.test_db.db_with(|c| {
        c.with_readers(1)
            .with_acquire_timeout(StdDuration::from_millis(20))
    });
    let store = DbSessionStore::new(t.over(db.clone()).sessions);
    let held = hold_a_reader(&db).await;

    let state = store.load(&key("any")).await.expect("never an error");

    held.release().await;
    let state = state.expect("a marked state");
    assert_eq!(
        state.get(FAILURE).map(String::as_str),
        Some("\"unavailable\"")
    );
}

#[actix_web::test]
async fn save_hands_over_the_key_the_handler_created_and_nothing_else() {
    let t = test_state();
    let store = DbSessionStore::new(t.state.sessions.clone());
    let with_key = HashMap::from([(NEW_KEY.to_owned(), "\"the-new-key\"".to_owned())]);

    let saved = store
        .save(with_key, &Duration::hours(1))
        .await
        .expect("save");

    assert_eq!(saved.as_ref(), "the-new-key");
    let err = store
        .save(HashMap::new(), &Duration::hours(1))
        .await
        .expect_err("no session was started");
    assert!(err.to_string().contains("persisting"), "{err}");
}

#[actix_web::test]
async fn update_stores_only_the_handlers_own_state_and_update_ttl_moves_the_expiry() {
    let WithSession {
        t, created, store, ..
    } = with_a_session().await;
    let state = HashMap::from([
        ("theme".to_owned(), "\"dark\"".to_owned()),
        (USER.to_owned(), "{}".to_owned()),
        (SESSION_ID.to_owned(), "\"x\"".to_owned()),
    ]);

    store
        .update(key(created.expose()), state, &Duration::hours(2))
        .await
        .expect("update");
    store
        .update_ttl(&key(created.expose()), &Duration::hours(3))
        .await
        .expect("ttl");

    let id = session_id(created.expose());
    let row = t
        .state
        .db
        .read(move |conn| stored(conn, &id))
        .await
        .expect("row");
    assert_eq!(row.0, r#"{"theme":"\"dark\""}"#);
    assert_eq!(row.1, (start() + chrono::TimeDelta::hours(3)).naive_utc());
}

#[actix_web::test]
async fn delete_leaves_the_ending_to_the_handlers() {
    let WithSession {
        t, created, store, ..
    } = with_a_session().await;

    store.delete(&key(created.expose())).await.expect("no-op");

    assert!(
        t.state
            .sessions
            .load(created.expose())
            .await
            .expect("load")
            .is_some()
    );
}

fn stored(
    conn: &mut promptyard_services::DbConn,
    id: &SessionId,
) -> Result<(String, chrono::NaiveDateTime), RepoError> {
    use diesel::prelude::*;
    use promptyard_db_models::schema::sessions;
    sessions::table
        .find(id)
        .select((sessions::state, sessions::expires_at))
        .first(conn)
        .map_err(RepoError::from)
}
