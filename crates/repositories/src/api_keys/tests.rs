use chrono::TimeDelta;
use promptyard_db_models::models::KeyMeter;
use promptyard_test_support::factories::new_id;

use super::*;
use crate::test_helpers::{
    assert_foreign_key_violation, assert_not_found, assert_unexpected, assert_unique_violation,
    fresh, on_test_day, users,
};

fn t0() -> Timestamp {
    on_test_day(9, 0, 0, 0)
}

fn new_key(user: &User, public_id: &str, created_at: Timestamp) -> NewApiKey {
    NewApiKey {
        id: new_id().into(),
        user_id: user.id.clone(),
        name: format!("key {public_id}"),
        public_id: public_id.to_owned(),
        secret_hash: vec![7; 32],
        created_at,
        expires_at: None,
        limits: KeyLimitColumns::default(),
    }
}

/// Creates `user`'s key `public_id` at [`t0`].
fn create_key(conn: &mut DbConn, user: &User, public_id: &str) -> ApiKey {
    ApiKeyRepository::create(conn, &new_key(user, public_id, t0())).expect(public_id)
}

/// The stored key `public_id`.
fn stored(conn: &mut DbConn, public_id: &str) -> ApiKey {
    let (key, _) = ApiKeyRepository::get_with_user_by_public_id(conn, public_id).expect("row");
    key
}

#[test]
fn a_created_key_is_found_by_its_public_id_with_its_user() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let created = create_key(conn, &ada, "PUB1");

    let (key, user) = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1").expect("found");

    assert_eq!(key, created);
    assert_eq!(key.secret_hash, vec![7; 32]);
    assert_eq!(key.last_used_at, None);
    assert_eq!(user, ada);
    let unknown = ApiKeyRepository::get_with_user_by_public_id(conn, "NOPE");
    assert_not_found(unknown, "unknown");
}

#[test]
fn public_ids_are_unique_keys_need_a_user_and_hashes_are_32_bytes() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    create_key(conn, &ada, "PUB1");

    let dup = ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0()));
    assert_unique_violation(dup, "api_keys.public_id");
    let mut orphan = new_key(&ada, "PUB2", t0());
    orphan.user_id = new_id().into();
    assert_foreign_key_violation(ApiKeyRepository::create(conn, &orphan), "no user");
    let mut short = new_key(&ada, "PUB3", t0());
    short.secret_hash = vec![1; 16];
    assert_unexpected(ApiKeyRepository::create(conn, &short), "CHECK");
}

#[test]
fn listing_shows_only_the_users_active_keys_newest_first() {
    let (conn, db) = &mut fresh();
    let [ada, grace] = users(conn);
    let at = |minutes| t0() + TimeDelta::minutes(minutes);
    let mut expiring = new_key(&ada, "EXP", at(1));
    expiring.expires_at = Some(at(60));
    for key in [
        new_key(&ada, "OLD", at(0)),
        expiring,
        new_key(&ada, "NEW", at(2)),
        new_key(&ada, "REV", at(3)),
        new_key(&grace, "GRACE", at(4)),
    ] {
        ApiKeyRepository::create(conn, &key).expect(&key.public_id);
    }
    let revoked = stored(conn, "REV");
    ApiKeyRepository::revoke(conn, &ada.id, &revoked.id, at(3)).expect("revoke");

    let listed = |now| -> Vec<String> {
        ApiKeyRepository::list_active_for_user(&mut db.conn(), &ada.id, now)
            .expect("list")
            .into_iter()
            .map(|k| k.public_id)
            .collect()
    };

    assert_eq!(listed(at(5)), ["NEW", "EXP", "OLD"]);
    assert_eq!(
        listed(at(60)),
        ["NEW", "OLD"],
        "expired at its expiry instant"
    );
}

#[test]
fn revoking_needs_the_owner_and_happens_once() {
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
    let key = create_key(conn, &ada, "PUB1");

    let by_grace = ApiKeyRepository::revoke(conn, &grace.id, &key.id, t0());
    assert_not_found(by_grace, "not hers");
    ApiKeyRepository::revoke(conn, &ada.id, &key.id, t0()).expect("revoke");
    let again = ApiKeyRepository::revoke(conn, &ada.id, &key.id, t0());
    assert_not_found(again, "twice");

    assert_eq!(stored(conn, "PUB1").revoked_at, Some(t0()), "row kept");
}

#[test]
fn touch_writes_only_when_the_last_use_is_old_enough() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_key(conn, &ada, "PUB1");
    let minute = TimeDelta::minutes(1);

    assert!(ApiKeyRepository::touch(conn, &key.id, t0(), t0() - minute).expect("first use"));
    let soon = t0() + TimeDelta::seconds(30);
    assert!(!ApiKeyRepository::touch(conn, &key.id, soon, soon - minute).expect("too soon"));
    let later = t0() + minute;
    assert!(ApiKeyRepository::touch(conn, &key.id, later, later - minute).expect("a minute on"));

    assert_eq!(stored(conn, "PUB1").last_used_at, Some(later));
}

#[test]
fn deleting_the_user_deletes_their_keys() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    create_key(conn, &ada, "PUB1");

    crate::UserRepository::delete(conn, &ada.id).expect("delete");

    let gone = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1");
    assert_not_found(gone, "gone");
}

/// The window of the minute `minute` minutes after [`t0`], `day` days after
/// the test day, in that day's budget period.
fn window(day: i64, minute: i64) -> MeterWindow {
    MeterWindow {
        minute: t0() + TimeDelta::days(day) + TimeDelta::minutes(minute),
        period: on_test_day(0, 0, 0, 0) + TimeDelta::days(day),
    }
}

fn hold(window: MeterWindow, tokens: i64) -> MeterHold {
    MeterHold { window, tokens }
}

/// A meter counting in `window`: both its starts are the window's.
fn counted(
    window: MeterWindow,
    minute_requests: i64,
    minute_tokens: i64,
    period_used: i64,
    period_reserved: i64,
) -> KeyMeter {
    KeyMeter {
        minute_started_at: Some(window.minute),
        minute_requests,
        minute_tokens,
        period_started_at: Some(window.period),
        period_used,
        period_reserved,
    }
}

/// Creates `user`'s key `public_id` at [`t0`] with `limits`.
fn create_limited(
    conn: &mut DbConn,
    user: &User,
    public_id: &str,
    limits: KeyLimitColumns,
) -> ApiKey {
    let mut key = new_key(user, public_id, t0());
    key.limits = limits;
    ApiKeyRepository::create(conn, &key).expect(public_id)
}

/// The key's meter as stored.
fn meter(conn: &mut DbConn, key: &ApiKey) -> KeyMeter {
    ApiKeyRepository::get(conn, &key.id).expect("get").meter
}

/// Reserves `tokens` on `key` in `window`: whether it was admitted.
fn reserve(conn: &mut DbConn, key: &ApiKey, window: MeterWindow, tokens: i64) -> bool {
    ApiKeyRepository::reserve(conn, &key.id, window, tokens)
        .expect("reserve")
        .is_some()
}

fn settle(conn: &mut DbConn, key: &ApiKey, held: MeterHold, now: MeterWindow, used: Option<i64>) {
    ApiKeyRepository::settle(conn, &key.id, &held, now, used).expect("settle");
}

fn all_limits() -> KeyLimitColumns {
    KeyLimitColumns {
        requests_per_minute: Some(10),
        tokens_per_minute: Some(1_000),
        token_budget: Some(50_000),
        budget_period: Some("month".to_owned()),
        allowed_models: Some(r#"["gpt-4o"]"#.to_owned()),
    }
}

#[test]
fn get_finds_a_key_by_id_whatever_its_state() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let created = create_key(conn, &ada, "PUB1");
    create_key(conn, &ada, "PUB2");
    ApiKeyRepository::revoke(conn, &ada.id, &created.id, t0()).expect("revoke");

    let key = ApiKeyRepository::get(conn, &created.id).expect("found");

    assert_eq!(key.public_id, "PUB1");
    assert_eq!(key.revoked_at, Some(t0()), "revoked, still found");
    assert_eq!(key, stored(conn, "PUB1"));
    let unknown = ApiKeyRepository::get(conn, &new_id().into());
    assert_not_found(unknown, "unknown id");
}

#[test]
fn set_limits_replaces_all_five_keeps_the_meters_and_returns_the_row() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(conn, &ada, "PUB1", all_limits());
    assert!(reserve(conn, &key, window(0, 0), 40));
    let before = ApiKeyRepository::get(conn, &key.id).expect("before");
    let fewer = KeyLimitColumns {
        requests_per_minute: None,
        tokens_per_minute: Some(500),
        token_budget: Some(7),
        budget_period: Some("day".to_owned()),
        allowed_models: None,
    };

    let updated =
        ApiKeyRepository::set_limits(conn, &ada.id, &key.id, t0(), &fewer).expect("set limits");

    assert_eq!(updated.limits, fewer);
    assert_eq!(
        updated.meter,
        counted(window(0, 0), 1, 40, 0, 40),
        "meters kept"
    );
    assert_eq!(updated.meter, before.meter);
    assert_eq!(
        updated,
        ApiKeyRepository::get(conn, &key.id).expect("after")
    );
    assert_eq!(
        ApiKey {
            limits: fewer,
            ..before
        },
        updated,
        "nothing else changed"
    );

    let cleared =
        ApiKeyRepository::set_limits(conn, &ada.id, &key.id, t0(), &KeyLimitColumns::default())
            .expect("clear");

    assert_eq!(cleared.limits, KeyLimitColumns::default(), "None clears");
    assert_eq!(cleared.meter, counted(window(0, 0), 1, 40, 0, 40));
    assert_eq!(
        stored(conn, "PUB1").limits,
        KeyLimitColumns::default(),
        "stored"
    );
}

#[test]
fn set_limits_needs_the_owners_key_neither_revoked_nor_expired() {
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
    let now = t0() + TimeDelta::hours(1);
    let mine = create_key(conn, &ada, "MINE");
    let revoked = create_key(conn, &ada, "REV");
    ApiKeyRepository::revoke(conn, &ada.id, &revoked.id, t0()).expect("revoke");
    let mut expiring = new_key(&ada, "EXP", t0());
    expiring.expires_at = Some(now);
    let expired = ApiKeyRepository::create(conn, &expiring).expect("EXP");
    let mut living = new_key(&ada, "LIVE", t0());
    living.expires_at = Some(now + TimeDelta::milliseconds(1));
    let living = ApiKeyRepository::create(conn, &living).expect("LIVE");
    let limits = all_limits();
    let set = |conn: &mut DbConn, user: &User, id: &ApiKeyId| {
        ApiKeyRepository::set_limits(conn, &user.id, id, now, &limits)
    };

    assert_not_found(set(conn, &grace, &mine.id), "another user's key");
    assert_not_found(set(conn, &ada, &revoked.id), "revoked");
    assert_not_found(
        set(conn, &ada, &expired.id),
        "expired at its expiry instant",
    );
    assert_not_found(set(conn, &ada, &new_id().into()), "unknown id");

    for public_id in ["MINE", "REV", "EXP"] {
        assert_eq!(
            stored(conn, public_id).limits,
            KeyLimitColumns::default(),
            "{public_id} unchanged"
        );
    }
    assert_eq!(
        set(conn, &ada, &living.id).expect("not expired yet").limits,
        limits
    );
    assert_eq!(set(conn, &ada, &mine.id).expect("hers").limits, limits);
}

#[test]
fn the_table_refuses_a_budget_without_a_period_and_limits_out_of_range() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(conn, &ada, "PUB1", all_limits());
    let refused = [
        (
            "budget without a period",
            KeyLimitColumns {
                token_budget: Some(100),
                budget_period: None,
                ..KeyLimitColumns::default()
            },
        ),
        (
            "period without a budget",
            KeyLimitColumns {
                token_budget: None,
                budget_period: Some("day".to_owned()),
                ..KeyLimitColumns::default()
            },
        ),
        (
            "a week",
            KeyLimitColumns {
                token_budget: Some(100),
                budget_period: Some("week".to_owned()),
                ..KeyLimitColumns::default()
            },
        ),
        (
            "zero requests per minute",
            KeyLimitColumns {
                requests_per_minute: Some(0),
                ..KeyLimitColumns::default()
            },
        ),
        (
            "zero tokens per minute",
            KeyLimitColumns {
                tokens_per_minute: Some(0),
                ..KeyLimitColumns::default()
            },
        ),
        (
            "zero budget",
            KeyLimitColumns {
                token_budget: Some(0),
                budget_period: Some("day".to_owned()),
                ..KeyLimitColumns::default()
            },
        ),
    ];

    for (case, limits) in refused {
        let result = ApiKeyRepository::set_limits(conn, &ada.id, &key.id, t0(), &limits);
        assert_unexpected(result, case);
        assert_eq!(
            stored(conn, "PUB1").limits,
            all_limits(),
            "{case}: unchanged"
        );
    }
    let mut no_period = new_key(&ada, "PUB2", t0());
    no_period.limits.token_budget = Some(100);
    assert_unexpected(ApiKeyRepository::create(conn, &no_period), "create");
}

#[test]
fn reserve_without_limits_always_admits_and_counts() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_key(conn, &ada, "PUB1");
    assert_eq!(meter(conn, &key), KeyMeter::default(), "a new key");

    for tokens in [1_000_000, 0, 5] {
        assert!(reserve(conn, &key, window(0, 0), tokens), "{tokens}");
    }

    assert_eq!(
        meter(conn, &key),
        counted(window(0, 0), 3, 1_000_005, 0, 1_000_005)
    );
    assert!(
        ApiKeyRepository::reserve(conn, &new_id().into(), window(0, 0), 1)
            .expect("unknown")
            .is_none(),
        "an unknown key is not admitted"
    );
}

#[test]
fn reserve_admits_requests_per_minute_then_waits_for_the_next_minute() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(
        conn,
        &ada,
        "PUB1",
        KeyLimitColumns {
            requests_per_minute: Some(2),
            ..KeyLimitColumns::default()
        },
    );
    let late = MeterWindow {
        minute: window(0, 0).minute + TimeDelta::seconds(59),
        ..window(0, 0)
    };

    assert!(reserve(conn, &key, window(0, 0), 10), "first");
    assert!(reserve(conn, &key, window(0, 0), 10), "second");
    assert!(!reserve(conn, &key, window(0, 0), 0), "third, same minute");
    assert_eq!(meter(conn, &key), counted(window(0, 0), 2, 20, 0, 20));
    assert!(reserve(conn, &key, window(0, 1), 10), "next minute");

    assert_eq!(meter(conn, &key), counted(window(0, 1), 1, 10, 0, 30));
    assert!(reserve(conn, &key, window(0, 1), 10), "second of the next");
    assert!(!reserve(conn, &key, window(0, 1), 10), "third of the next");
    assert_eq!(meter(conn, &key), counted(window(0, 1), 2, 20, 0, 40));
    assert!(
        !reserve(conn, &key, late, 1),
        "a request whose window is older counts in the later minute the row holds"
    );
    assert_eq!(meter(conn, &key), counted(window(0, 1), 2, 20, 0, 40));
}

#[test]
fn reserve_admits_tokens_per_minute_up_to_the_limit_exactly() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(
        conn,
        &ada,
        "PUB1",
        KeyLimitColumns {
            tokens_per_minute: Some(100),
            ..KeyLimitColumns::default()
        },
    );

    assert!(
        !reserve(conn, &key, window(0, 0), 101),
        "more than the limit"
    );
    assert_eq!(meter(conn, &key), KeyMeter::default());
    assert!(reserve(conn, &key, window(0, 0), 60));
    assert!(!reserve(conn, &key, window(0, 0), 41), "60 + 41 > 100");
    assert!(reserve(conn, &key, window(0, 0), 40), "60 + 40 = 100");
    assert!(!reserve(conn, &key, window(0, 0), 1), "100 + 1 > 100");
    assert!(reserve(conn, &key, window(0, 0), 0), "100 + 0 = 100");
    assert_eq!(meter(conn, &key), counted(window(0, 0), 3, 100, 0, 100));

    assert!(reserve(conn, &key, window(0, 1), 100), "the next minute");
    assert_eq!(meter(conn, &key), counted(window(0, 1), 1, 100, 0, 200));
}

#[test]
fn reserve_admits_the_budget_counting_settled_and_reserved_tokens() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(
        conn,
        &ada,
        "PUB1",
        KeyLimitColumns {
            token_budget: Some(100),
            budget_period: Some("day".to_owned()),
            ..KeyLimitColumns::default()
        },
    );
    let now = window(0, 0);

    assert!(reserve(conn, &key, now, 30));
    settle(conn, &key, hold(now, 30), now, Some(20));
    assert_eq!(meter(conn, &key), counted(now, 1, 20, 20, 0));
    assert!(reserve(conn, &key, now, 50), "20 + 0 + 50");
    assert!(!reserve(conn, &key, now, 31), "20 + 50 + 31 > 100");
    assert!(reserve(conn, &key, window(0, 5), 30), "20 + 50 + 30 = 100");
    assert!(!reserve(conn, &key, window(0, 6), 1), "20 + 80 + 1 > 100");
    assert_eq!(meter(conn, &key), counted(window(0, 5), 1, 30, 20, 80));

    assert!(reserve(conn, &key, window(1, 0), 100), "a new day");
    assert_eq!(
        meter(conn, &key),
        counted(window(1, 0), 1, 100, 0, 100),
        "the period meters start from zero"
    );
    assert!(
        !reserve(conn, &key, window(1, 1), 1),
        "the new day is spent"
    );
}

#[test]
fn a_refused_reserve_changes_nothing() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(
        conn,
        &ada,
        "PUB1",
        KeyLimitColumns {
            requests_per_minute: Some(1),
            token_budget: Some(50),
            budget_period: Some("month".to_owned()),
            ..KeyLimitColumns::default()
        },
    );
    assert!(reserve(conn, &key, window(0, 0), 40));
    let before = ApiKeyRepository::get(conn, &key.id).expect("before");

    assert!(
        !reserve(conn, &key, window(0, 0), 1),
        "one request a minute"
    );
    assert!(!reserve(conn, &key, window(0, 1), 11), "over the budget");

    let after = ApiKeyRepository::get(conn, &key.id).expect("after");
    assert_eq!(after, before);
    assert_eq!(
        after.meter,
        counted(window(0, 0), 1, 40, 0, 40),
        "the minute not restarted"
    );
}

#[test]
fn settling_with_usage_in_the_same_minute_replaces_the_reservation() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_key(conn, &ada, "PUB1");
    let now = window(0, 0);
    assert!(reserve(conn, &key, now, 100));
    assert!(reserve(conn, &key, now, 100));

    settle(conn, &key, hold(now, 100), now, Some(30));
    assert_eq!(
        meter(conn, &key),
        counted(now, 2, 130, 30, 100),
        "200 - 100 + 30 this minute, 30 used, 100 still reserved"
    );

    settle(conn, &key, hold(now, 100), now, Some(150));
    assert_eq!(
        meter(conn, &key),
        counted(now, 2, 180, 180, 0),
        "usage above its reservation counts whole"
    );
}

#[test]
fn settling_without_usage_gives_the_request_and_tokens_back() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_key(conn, &ada, "PUB1");
    let now = window(0, 0);
    assert!(reserve(conn, &key, now, 100));
    assert!(reserve(conn, &key, now, 50));
    settle(conn, &key, hold(now, 50), now, Some(20));

    settle(conn, &key, hold(now, 100), now, None);

    assert_eq!(meter(conn, &key), counted(now, 1, 20, 20, 0));
}

#[test]
fn a_limit_admits_again_once_a_reservation_is_given_back() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(
        conn,
        &ada,
        "PUB1",
        KeyLimitColumns {
            requests_per_minute: Some(1),
            tokens_per_minute: Some(100),
            token_budget: Some(100),
            budget_period: Some("day".to_owned()),
            ..KeyLimitColumns::default()
        },
    );
    let now = window(0, 0);
    assert!(reserve(conn, &key, now, 100));
    assert!(!reserve(conn, &key, now, 100));

    settle(conn, &key, hold(now, 100), now, None);

    assert!(reserve(conn, &key, now, 100), "all three given back");
    assert_eq!(meter(conn, &key), counted(now, 1, 100, 0, 100));
}

#[test]
fn settling_after_the_minute_passed_leaves_the_minute_but_moves_the_period() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_key(conn, &ada, "PUB1");
    let (then, now) = (window(0, 0), window(0, 1));
    assert!(reserve(conn, &key, then, 100));
    assert!(reserve(conn, &key, then, 40));

    settle(conn, &key, hold(then, 100), now, Some(70));
    assert_eq!(
        meter(conn, &key),
        counted(then, 2, 140 - 100 + 70, 70, 40),
        "the row still counts the reservation's minute: settled there"
    );

    assert!(reserve(conn, &key, now, 10));
    settle(conn, &key, hold(then, 40), now, Some(25));
    assert_eq!(
        meter(conn, &key),
        counted(now, 1, 10, 95, 10),
        "the new minute is not the reservation's"
    );

    assert!(reserve(conn, &key, now, 5));
    settle(conn, &key, hold(then, 10), now, None);
    assert_eq!(
        meter(conn, &key),
        counted(now, 2, 15, 95, 5),
        "given back to the period only"
    );
}

#[test]
fn settling_in_a_new_period_starts_it_with_the_usage() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let used = create_key(conn, &ada, "USED");
    let failed = create_key(conn, &ada, "FAILED");
    let raced = create_key(conn, &ada, "RACED");
    let (then, now) = (window(0, 0), window(1, 0));
    for key in [&used, &failed, &raced] {
        assert!(reserve(conn, key, then, 30));
        settle(conn, key, hold(then, 30), then, Some(20));
        assert!(reserve(conn, key, then, 100));
    }
    let old_minute = KeyMeter {
        minute_started_at: Some(then.minute),
        minute_requests: 2,
        minute_tokens: 120,
        period_started_at: Some(now.period),
        period_used: 0,
        period_reserved: 0,
    };

    settle(conn, &used, hold(then, 100), now, Some(70));
    settle(conn, &failed, hold(then, 100), now, None);
    assert!(reserve(conn, &raced, now, 5));
    settle(conn, &raced, hold(then, 100), now, Some(70));

    // The minute still counts the reservations: they go back to it.
    assert_eq!(
        meter(conn, &used),
        KeyMeter {
            minute_tokens: 120 + 70 - 100,
            period_used: 70,
            ..old_minute.clone()
        }
    );
    assert_eq!(
        meter(conn, &failed),
        KeyMeter {
            minute_requests: 1,
            minute_tokens: 20,
            ..old_minute
        }
    );
    assert_eq!(meter(conn, &raced), counted(now, 1, 5, 70, 5));
}

#[test]
fn settling_never_takes_a_meter_below_zero() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let given_back = create_key(conn, &ada, "BACK");
    let used = create_key(conn, &ada, "USED");
    let now = window(0, 0);
    assert!(reserve(conn, &given_back, now, 10));
    assert!(reserve(conn, &used, now, 10));

    settle(conn, &given_back, hold(now, 50), now, None);
    assert_eq!(meter(conn, &given_back), counted(now, 0, 0, 0, 0));
    settle(conn, &given_back, hold(now, 50), now, None);
    assert_eq!(
        meter(conn, &given_back),
        counted(now, 0, 0, 0, 0),
        "given back twice"
    );
    settle(conn, &used, hold(now, 50), now, Some(5));
    assert_eq!(meter(conn, &used), counted(now, 1, 0, 5, 0));
}

/// What the connection prepared, and what it put in its statement cache,
/// while `run` ran (SQL texts, binds left out). Watched on the backend's own
/// connection, which runs the statements `per_backend!` builds.
fn prepared_and_cached(conn: &mut DbConn, run: impl FnOnce(&mut DbConn)) -> (usize, Vec<String>) {
    use diesel::connection::{Instrumentation, InstrumentationEvent, get_default_instrumentation};
    let seen = std::sync::Arc::new(std::sync::Mutex::new((0, Vec::new())));
    let log = seen.clone();
    let watch = move |event: InstrumentationEvent<'_>| {
        let mut log = log.lock().expect("log");
        match event {
            InstrumentationEvent::StartQuery { .. } => log.0 += 1,
            InstrumentationEvent::CacheQuery { sql, .. } => log.1.push(sql.to_owned()),
            _ => {}
        }
    };
    let set = |conn: &mut DbConn, to: Box<dyn Instrumentation>| match conn {
        DbConn::Sqlite(c) => c.set_instrumentation(to),
        DbConn::Postgres(c) => c.set_instrumentation(to),
    };
    set(conn, Box::new(watch));
    run(conn);
    set(
        conn,
        get_default_instrumentation().unwrap_or_else(|| Box::new(|_: InstrumentationEvent<'_>| {})),
    );
    seen.lock().expect("log").clone()
}

#[test]
fn admissions_statements_are_prepared_once_and_cached() {
    // Every admitted request runs reserve (one UPDATE ... RETURNING) and
    // settle: parsing and planning their SQL each time would cost more than
    // running it.
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(conn, &ada, "PUB1", all_limits());
    let w = window(0, 0);

    let (ran_first, first) = prepared_and_cached(conn, |conn| {
        reserve(conn, &key, w, 1);
        settle(conn, &key, hold(w, 1), w, Some(1));
        settle(conn, &key, hold(w, 1), w, None);
    });
    let (ran, again) = prepared_and_cached(conn, |conn| {
        for tokens in 2..5 {
            reserve(conn, &key, w, tokens);
            settle(conn, &key, hold(w, tokens), window(0, 1), Some(tokens));
        }
    });

    assert_eq!(
        first.len(),
        2,
        "reserve and settle (one text for both outcomes) are cached: {first:?}"
    );
    assert!(
        first[0].contains("RETURNING"),
        "reserve says where it counted: {first:?}"
    );
    assert_eq!(ran_first, 3);
    assert_eq!(ran, 6);
    assert!(again.is_empty(), "and prepared only once: {again:?}");
}

#[test]
fn windows_never_move_backwards_and_reserve_says_which_it_counted_in() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_limited(
        conn,
        &ada,
        "PUB1",
        KeyLimitColumns {
            requests_per_minute: Some(3),
            token_budget: Some(100),
            budget_period: Some("day".to_owned()),
            ..KeyLimitColumns::default()
        },
    );
    let (earlier, later) = (window(0, 0), window(1, 1));

    let counted_in = ApiKeyRepository::reserve(conn, &key.id, later, 10).expect("reserve");
    assert_eq!(counted_in, Some(later));
    // A request whose clock (or queue) is behind counts in the row's later
    // windows, and is told so: its settlement finds its reservation there.
    let late = ApiKeyRepository::reserve(conn, &key.id, earlier, 20).expect("reserve");
    assert_eq!(late, Some(later));
    assert_eq!(meter(conn, &key), counted(later, 2, 30, 0, 30));

    settle(conn, &key, hold(later, 20), earlier, Some(5));
    assert_eq!(
        meter(conn, &key),
        counted(later, 2, 15, 5, 10),
        "settled in the later windows, not reset to the earlier ones"
    );
    settle(conn, &key, hold(later, 10), earlier, None);
    assert_eq!(meter(conn, &key), counted(later, 1, 5, 5, 0));
}
