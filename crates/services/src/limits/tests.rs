use chrono::TimeZone;

use super::*;
use crate::providers::{ChatMessage, Role};
use crate::test_helpers::assert_matches;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("a real instant")
}

#[test]
fn periods_start_at_utc_midnight_of_the_day_or_the_first_of_the_month() {
    let now = at(2026, 12, 2, 17, 45, 12);

    assert_eq!(BudgetPeriod::Day.start(now), at(2026, 12, 2, 0, 0, 0));
    assert_eq!(BudgetPeriod::Day.next_start(now), at(2026, 12, 3, 0, 0, 0));
    assert_eq!(BudgetPeriod::Month.start(now), at(2026, 12, 1, 0, 0, 0));
    assert_eq!(
        BudgetPeriod::Month.next_start(now),
        at(2027, 1, 1, 0, 0, 0),
        "December rolls over into the next year"
    );
    let leap = at(2028, 2, 29, 23, 59, 59);
    assert_eq!(BudgetPeriod::Day.next_start(leap), at(2028, 3, 1, 0, 0, 0));
    assert_eq!(
        BudgetPeriod::Month.next_start(leap),
        at(2028, 3, 1, 0, 0, 0)
    );
    let first = at(2026, 3, 1, 0, 0, 0);
    assert_eq!(
        BudgetPeriod::Month.start(first),
        first,
        "a start is its own period's"
    );
}

#[test]
fn periods_parse_as_the_contract_spells_them() {
    assert_eq!(BudgetPeriod::parse("day"), Ok(BudgetPeriod::Day));
    assert_eq!(BudgetPeriod::parse("month"), Ok(BudgetPeriod::Month));
    for bad in ["Day", "week", "", "months"] {
        assert!(BudgetPeriod::parse(bad).is_err(), "{bad:?}");
    }
    for period in [BudgetPeriod::Day, BudgetPeriod::Month] {
        assert_eq!(BudgetPeriod::parse(period.as_str()), Ok(period));
    }
}

#[test]
fn counts_are_whole_numbers_from_one_to_the_maximum() {
    assert_eq!(parse_count(1.0, 10), Ok(1));
    assert_eq!(parse_count(10.0, 10), Ok(10));
    for bad in [0.0, -1.0, 11.0, 1.5, f64::NAN, f64::INFINITY] {
        assert!(parse_count(bad, 10).is_err(), "{bad}");
    }
    assert_eq!(
        parse_count(1e12, TOKEN_BUDGET_MAX),
        Ok(1_000_000_000_000),
        "the largest budget is exact"
    );
}

fn limited() -> KeyLimits {
    KeyLimits {
        requests_per_minute: Some(5),
        tokens_per_minute: Some(1000),
        token_budget: Some(10_000),
        budget_period: Some(BudgetPeriod::Month),
        models: Some(vec!["echo-1".to_owned(), "gpt-x".to_owned()]),
    }
}

#[test]
fn limits_round_trip_through_their_columns() {
    for limits in [limited(), KeyLimits::none()] {
        let columns = limits.to_columns();
        assert_eq!(KeyLimits::from_columns(&columns).expect("readable"), limits);
    }
    let columns = limited().to_columns();
    assert_eq!(columns.budget_period.as_deref(), Some("month"));
    assert_eq!(
        columns.allowed_models.as_deref(),
        Some(r#"["echo-1","gpt-x"]"#)
    );
    let corrupt = KeyLimitColumns {
        allowed_models: Some("not json".to_owned()),
        ..KeyLimitColumns::default()
    };
    assert!(KeyLimits::from_columns(&corrupt).is_err());
}

#[test]
fn a_key_is_metered_only_with_a_numeric_limit_and_models_narrow_what_it_may_use() {
    assert!(!KeyLimits::none().is_metered());
    let only_models = KeyLimits {
        models: Some(vec!["echo-1".to_owned()]),
        ..KeyLimits::none()
    };
    assert!(!only_models.is_metered());
    assert!(only_models.allows("echo-1") && !only_models.allows("gpt-x"));
    assert!(KeyLimits::none().allows("anything"));
    let one_each = [
        KeyLimits {
            requests_per_minute: Some(1),
            ..KeyLimits::none()
        },
        KeyLimits {
            tokens_per_minute: Some(1),
            ..KeyLimits::none()
        },
        KeyLimits {
            token_budget: Some(1),
            budget_period: Some(BudgetPeriod::Day),
            ..KeyLimits::none()
        },
    ];
    for one in one_each {
        assert!(one.is_metered(), "{one:?}");
    }
}

#[test]
fn check_names_a_budget_without_its_period_and_each_unknown_model() {
    assert_eq!(limited().check(|_| true), Ok(limited()));
    let no_period = KeyLimits {
        budget_period: None,
        ..limited()
    };
    let errors = no_period.check(|_| true).expect_err("needs a period");
    assert_eq!(errors[0].field, "limits.budget_period");
    let no_budget = KeyLimits {
        token_budget: None,
        ..limited()
    };
    let errors = no_budget.check(|_| true).expect_err("a period alone");
    assert_eq!(errors[0].field, "limits.budget_period");

    let errors = limited()
        .check(|m| m == "echo-1")
        .expect_err("gpt-x is unknown");
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["limits.models[1]"]);
    let many = KeyLimits {
        models: Some((0..=MODELS_MAX).map(|i| format!("m{i}")).collect()),
        ..KeyLimits::none()
    };
    let errors = many.check(|_| true).expect_err("too many");
    assert_eq!(errors[0].field, "limits.models");
    let most = KeyLimits {
        models: Some((1..=MODELS_MAX).map(|i| format!("m{i}")).collect()),
        ..KeyLimits::none()
    };
    assert_eq!(most.clone().check(|_| true), Ok(most), "the most allowed");

    let repeated = KeyLimits {
        models: Some(["echo-1", "echo-1", "nope"].map(String::from).to_vec()),
        ..KeyLimits::none()
    };
    let errors = repeated.clone().check(|m| m == "echo-1").expect_err("nope");
    assert_eq!(errors[0].field, "limits.models[2]", "the index as given");
    let kept = repeated.check(|_| true).expect("all known");
    assert_eq!(
        kept.models,
        Some(vec!["echo-1".to_owned(), "nope".to_owned()])
    );
}

#[test]
fn budget_used_is_the_current_periods_settled_use_and_zero_without_a_budget() {
    let now = at(2026, 12, 2, 10, 0, 0);
    let meter = KeyMeter {
        period_started_at: Some(at(2026, 12, 1, 0, 0, 0).naive_utc()),
        period_used: 70,
        period_reserved: 30,
        ..KeyMeter::default()
    };
    assert_eq!(
        limited().budget_used(&meter, now),
        70,
        "reservations are not use"
    );
    let daily = KeyLimits {
        budget_period: Some(BudgetPeriod::Day),
        ..limited()
    };
    assert_eq!(
        daily.budget_used(&meter, now),
        0,
        "the meter is of another period"
    );
    let next_month = at(2027, 1, 1, 0, 0, 0);
    assert_eq!(limited().budget_used(&meter, next_month), 0, "a new period");
    let unbudgeted = KeyLimits {
        token_budget: None,
        budget_period: None,
        ..limited()
    };
    assert_eq!(unbudgeted.budget_used(&meter, now), 0);
    let period_alone = KeyLimits {
        token_budget: None,
        ..limited()
    };
    assert_eq!(
        period_alone.budget_used(&meter, now),
        0,
        "a period is no budget"
    );
}

#[test]
fn an_admission_ends_once_whatever_ends_it() {
    let shared = Shared::default();
    assert_eq!(shared.take(), None, "nothing reserved: nothing to end");
    let hold = MeterHold {
        window: limited().window(at(2026, 12, 2, 10, 0, 0)),
        tokens: 7,
    };
    *shared.hold.lock().expect("lock") = Some(hold);
    assert_eq!(shared.take(), Some(hold));
    assert_eq!(shared.take(), None, "ended already");
}

#[test]
fn a_reservation_is_the_prompts_words_with_overhead_plus_max_tokens_or_the_default() {
    let mut request = ChatRequest {
        model: "echo-1".to_owned(),
        messages: vec![
            ChatMessage::new(Role::System, "be brief"),
            ChatMessage::new(Role::User, "hello there world"),
        ],
        temperature: None,
        max_tokens: None,
    };
    let prompt = 2 + 3 + 2 * MESSAGE_OVERHEAD_TOKENS;

    assert_eq!(prompt_estimate(&request), prompt);
    assert_eq!(reservation_tokens(&request, 100), prompt + 100);
    request.max_tokens = Some(7);
    assert_eq!(reservation_tokens(&request, 100), prompt + 7);
}

fn row(limits: &KeyLimits, meter: KeyMeter) -> ApiKey {
    ApiKey {
        id: "k".into(),
        user_id: "u".into(),
        name: "n".into(),
        public_id: "P".into(),
        secret_hash: vec![0; 32],
        created_at: at(2026, 1, 1, 0, 0, 0).naive_utc(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        limits: limits.to_columns(),
        meter,
    }
}

#[test]
fn a_refusal_says_which_limit_and_until_when() {
    let now = at(2026, 12, 2, 10, 15, 20);
    let window = limited().window(now);
    assert_eq!(window.minute, at(2026, 12, 2, 10, 15, 0).naive_utc());
    assert_eq!(window.period, at(2026, 12, 1, 0, 0, 0).naive_utc());
    let in_window = |used, reserved| KeyMeter {
        minute_started_at: Some(window.minute),
        minute_requests: 5,
        minute_tokens: 900,
        period_started_at: Some(window.period),
        period_used: used,
        period_reserved: reserved,
    };

    let minute = refusal(&row(&limited(), in_window(0, 0)), window, 50, now);
    assert_eq!(minute.kind, RefusalKind::RateLimited);
    assert_eq!(
        minute.retry_after,
        Duration::from_secs(40),
        "the rest of the minute"
    );

    let spent = refusal(&row(&limited(), in_window(9_990, 0)), window, 50, now);
    assert_eq!(spent.kind, RefusalKind::InsufficientQuota);
    let to_january = at(2027, 1, 1, 0, 0, 0) - now;
    assert_eq!(spent.retry_after, to_january.to_std().expect("ahead"));

    let held = refusal(&row(&limited(), in_window(9_000, 990)), window, 50, now);
    assert_eq!(
        held.kind,
        RefusalKind::RateLimited,
        "reserved by requests in flight is not spent: {held:?}"
    );
    assert_eq!(held.retry_after, Duration::from_secs(1));

    let a_bit_later = now + TimeDelta::milliseconds(300);
    let rounded = refusal(&row(&limited(), in_window(0, 0)), window, 50, a_bit_later);
    assert_eq!(
        rounded.retry_after,
        Duration::from_secs(40),
        "39.7 s left rounds up: a client waiting that long is in the next minute"
    );
    let later_period = KeyMeter {
        period_started_at: Some(at(2026, 12, 2, 0, 0, 0).naive_utc()),
        ..in_window(9_990, 0)
    };
    let skewed = refusal(&row(&limited(), later_period), window, 50, now);
    assert_eq!(
        skewed.kind,
        RefusalKind::InsufficientQuota,
        "a period the row started later is current"
    );

    let huge = refusal(&row(&limited(), KeyMeter::default()), window, 2_000, now);
    assert_eq!(huge.kind, RefusalKind::RateLimited);
    assert!(huge.detail.contains("tokens_per_minute"), "{}", huge.detail);
    let over_budget = refusal(&row(&limited(), KeyMeter::default()), window, 20_000, now);
    assert_eq!(over_budget.kind, RefusalKind::InsufficientQuota);
    assert!(
        over_budget.detail.contains("whole token_budget"),
        "{}",
        over_budget.detail
    );
}

#[test]
fn callers_with_a_session_may_use_every_model_and_keys_their_list() {
    let session = LlmCaller::session("u".into());
    assert!(session.allows("gpt-x") && session.key.is_none());
    let keyed = LlmCaller {
        user: "u".into(),
        key: Some(KeyGrant {
            key_id: "k".into(),
            limits: Arc::new(KeyLimits {
                models: Some(vec!["echo-1".to_owned()]),
                ..KeyLimits::none()
            }),
        }),
    };
    assert!(keyed.allows("echo-1") && !keyed.allows("gpt-x"));
}

#[test]
fn each_refusal_starts_just_past_its_limit() {
    let now = at(2026, 12, 2, 10, 15, 20);
    let window = limited().window(now);
    // Budget 10,000 a month, 1,000 tokens a minute.
    let meter = |used, reserved| KeyMeter {
        period_started_at: Some(window.period),
        period_used: used,
        period_reserved: reserved,
        ..KeyMeter::default()
    };
    let refused = |used, reserved, tokens| {
        refusal(&row(&limited(), meter(used, reserved)), window, tokens, now)
    };
    let per_minute = |r: &Refusal| {
        r.kind == RefusalKind::RateLimited && r.detail.contains("per-minute limit is reached")
    };

    let exactly_the_budget = refused(9_950, 0, 50);
    assert!(per_minute(&exactly_the_budget), "{exactly_the_budget:?}");
    let one_past = refused(9_951, 0, 50);
    assert_eq!(one_past.kind, RefusalKind::InsufficientQuota);
    assert!(one_past.detail.contains("is spent"), "{}", one_past.detail);

    let all_reserved = refused(0, 10_000, 1);
    assert_eq!(
        (all_reserved.kind, all_reserved.retry_after),
        (RefusalKind::RateLimited, Duration::from_secs(1)),
        "held by requests in flight: {all_reserved:?}"
    );
    let all_but_one_reserved = refused(0, 9_999, 1);
    assert!(
        per_minute(&all_but_one_reserved),
        "{all_but_one_reserved:?}"
    );

    let the_whole_budget = refused(1, 0, 10_000);
    assert_eq!(the_whole_budget.kind, RefusalKind::InsufficientQuota);
    assert!(
        the_whole_budget.detail.contains("is spent"),
        "asking for the budget is allowed, only the use makes it too much: {}",
        the_whole_budget.detail
    );

    let a_minutes_worth = refused(0, 0, 1_000);
    assert!(per_minute(&a_minutes_worth), "{a_minutes_worth:?}");
    let more_than_a_minutes_worth = refused(0, 0, 1_001);
    assert!(
        more_than_a_minutes_worth
            .detail
            .contains("tokens_per_minute of 1000"),
        "{}",
        more_than_a_minutes_worth.detail
    );
}

/// A key with 2 requests a minute and 1,000 tokens a month, over `env`;
/// its grant.
async fn metered_key(env: &crate::test_helpers::TestEnv) -> KeyGrant {
    let limits = KeyLimits {
        requests_per_minute: Some(2),
        token_budget: Some(1_000),
        budget_period: Some(BudgetPeriod::Month),
        ..KeyLimits::none()
    };
    env.key_with(limits).await
}

/// The key's meter: (requests this minute, tokens used this period,
/// tokens reserved).
async fn meter_of(env: &crate::test_helpers::TestEnv, grant: &KeyGrant) -> (i64, i64, i64) {
    let id = grant.key_id.clone();
    let row = env
        .db
        .read(move |conn| promptyard_repositories::ApiKeyRepository::get(conn, &id))
        .await
        .expect("row");
    let m = row.meter;
    (m.minute_requests, m.period_used, m.period_reserved)
}

/// Waits (at most 10 s) until the key's meter is `expected`: an admission
/// dropped unsettled ends itself in the background.
async fn meter_becomes(
    env: &crate::test_helpers::TestEnv,
    grant: &KeyGrant,
    expected: (i64, i64, i64),
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = meter_of(env, grant).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{now:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn admissions_reserve_on_the_keys_row_and_settle_to_the_real_usage() {
    let env = crate::test_helpers::TestEnv::new();
    let grant = metered_key(&env).await;
    let clock = env.clock();
    let reserve = || Admission::reserve(&env.db, &clock, &grant, 5, 20);

    let first = reserve().await.expect("first").expect("metered");
    let second = reserve().await.expect("second").expect("metered");
    let third = reserve().await;
    assert_matches!(
        third,
        Err(AdmissionError::Refused(Refusal {
            kind: RefusalKind::RateLimited,
            ..
        }))
    );
    assert_eq!(meter_of(&env, &grant).await, (2, 0, 40));

    let settlement = first.settlement(Usage {
        prompt_tokens: 5,
        completion_tokens: 7,
    });
    env.db
        .write(move |conn| settlement.apply(conn))
        .await
        .expect("settle");
    first.settled();

    assert_eq!(
        meter_of(&env, &grant).await,
        (2, 12, 20),
        "the first settled to 5 + 7, the second still holds its 20"
    );
    second.settled();
    let unmetered = KeyGrant {
        limits: Arc::new(KeyLimits::none()),
        ..grant.clone()
    };
    let free = Admission::reserve(&env.db, &clock, &unmetered, 5, 20).await;
    assert!(free.expect("admitted").is_none(), "nothing to meter");
}

#[tokio::test]
async fn an_admission_dropped_unsettled_ends_with_what_it_is_known_to_have_spent() {
    let env = crate::test_helpers::TestEnv::new();
    let grant = metered_key(&env).await;
    let clock = env.clock();
    let reserve = || Admission::reserve(&env.db, &clock, &grant, 5, 20);

    let failed = reserve().await.expect("reserve").expect("metered");
    drop(failed);
    meter_becomes(&env, &grant, (0, 0, 0)).await;

    let mut answered = reserve().await.expect("reserve").expect("metered");
    answered.answered(Usage {
        prompt_tokens: 3,
        completion_tokens: 4,
    });
    drop(answered);
    meter_becomes(&env, &grant, (1, 7, 0)).await;

    let mut cut = reserve().await.expect("reserve").expect("metered");
    cut.streamed("three streamed words");
    cut.streamed("and two");
    drop(cut);
    meter_becomes(&env, &grant, (2, 7 + 5 + 3 + 2, 0)).await;
}
