use super::*;
use crate::ids::UuidV7Ids;
use crate::test_helpers::{assert_matches, start};

type Fixture = crate::test_helpers::Fixture<ApiKeyService>;

/// An [`ApiKeyService`] over a fresh database.
fn fixture() -> Fixture {
    Fixture::new(|env| {
        ApiKeyService::new(
            env.db.clone(),
            env.clock(),
            Arc::new(UuidV7Ids),
            Arc::new(ProviderRegistry::with_echo()),
        )
    })
}

/// A key to create, parsed (the rules are the parsers' own tests).
fn key(name: &str, days: Option<i64>) -> NewKey {
    NewKey {
        name: KeyName::parse(name).expect("a valid name"),
        #[allow(clippy::cast_precision_loss)]
        expires_in_days: days.map(|d| ExpiresInDays::parse(d as f64).expect("valid days")),
        limits: KeyLimits::none(),
    }
}

impl Fixture {
    /// Creates a key of ada's named `name`, expiring after `days`.
    async fn create(&self, name: &str, days: Option<i64>) -> CreatedApiKey {
        self.service
            .create(&self.ada, key(name, days))
            .await
            .expect("create")
    }

    /// Authenticates with `created`'s key, which must work.
    async fn works(&self, created: &CreatedApiKey, case: &str) -> KeyCaller {
        let result = self.service.authenticate(created.key.expose()).await;
        result.unwrap_or_else(|err| panic!("{case}: {err:?}"))
    }

    /// Asserts that `raw` no longer (or never did) authenticate.
    async fn refused(&self, raw: &str) {
        let result = self.service.authenticate(raw).await;
        assert_matches!(result, Err(AuthError::Unauthenticated));
    }

    /// Asserts that revoking `key` as `user` is not found.
    async fn revoke_not_found(&self, user: &UserId, key: &ApiKeyId, case: &str) {
        let result = self.service.revoke(user, key).await;
        assert_matches!(result, Err(AuthError::NotFound), "{case}:");
    }

    /// Ada's listed keys.
    async fn listed(&self) -> Vec<ApiKeyInfo> {
        self.service.list(&self.ada).await.expect("list")
    }
}

#[tokio::test]
async fn a_created_key_authenticates_its_owner_and_is_listed_without_its_secret() {
    let f = fixture();

    let created = f.create("  laptop  ", None).await;
    let caller = f.works(&created, "authenticates").await;
    let listed = f.listed().await;

    assert_eq!(caller.user.id, f.ada);
    assert_eq!(caller.key_id, created.info.id);
    assert_eq!(created.info.name, "laptop", "trimmed");
    assert_eq!(
        created.info.prefix,
        format!("pyk_{}", created.key.public_id())
    );
    assert_eq!(created.info.created_at, start());
    assert_eq!(created.info.expires_at, None);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.info.id);
    assert!(
        !format!("{listed:?}").contains(&created.key.expose()[17..]),
        "no secret in the list"
    );
    let graces = f.service.list(&f.grace).await.expect("list");
    assert!(graces.is_empty(), "only the owner's keys");
}

#[tokio::test]
async fn names_and_lifetimes_are_validated_together() {
    for (name, days, fields) in [
        ("", None, vec!["name"]),
        ("   ", None, vec!["name"]),
        (&*"x".repeat(101), None, vec!["name"]),
        ("ok", Some(0.0), vec!["expires_in_days"]),
        ("ok", Some(3651.0), vec!["expires_in_days"]),
        ("ok", Some(1.5), vec!["expires_in_days"]),
        ("", Some(-1.0), vec!["name", "expires_in_days"]),
    ] {
        let mut named = Vec::new();
        if KeyName::parse(name).is_err() {
            named.push("name");
        }
        if days.is_some_and(|d| ExpiresInDays::parse(d).is_err()) {
            named.push("expires_in_days");
        }
        assert_eq!(named, fields, "{name:?} {days:?}");
    }
    assert_eq!(KeyName::parse(" ").unwrap_err(), "must not be empty");
    assert_eq!(
        ExpiresInDays::parse(0.0).unwrap_err(),
        "must be a whole number from 1 to 3650"
    );
    let f = fixture();
    // 100 characters, 3650 days; then 1 character, 1 day.
    f.create(&"é".repeat(100), Some(3650)).await;
    f.create("a", Some(1)).await;
}

#[tokio::test]
async fn a_key_expires_after_its_days_and_leaves_the_list() {
    let f = fixture();
    let created = f.create("ci", Some(30)).await;
    assert_eq!(created.info.expires_at, Some(start() + TimeDelta::days(30)));

    f.env
        .clock
        .advance(TimeDelta::days(30) - TimeDelta::milliseconds(1));
    f.works(&created, "still valid").await;
    f.env.clock.advance(TimeDelta::milliseconds(1));

    f.refused(created.key.expose()).await;
    assert!(f.listed().await.is_empty());
}

#[tokio::test]
async fn a_revoked_key_stops_at_once_and_only_its_owner_can_revoke_it() {
    let f = fixture();
    let created = f.create("ci", None).await;
    let id = &created.info.id;

    f.revoke_not_found(&f.grace, id, "not hers").await;
    f.works(&created, "still works").await;

    f.service.revoke(&f.ada, id).await.expect("revoke");
    f.refused(created.key.expose()).await;
    assert!(f.listed().await.is_empty());
    f.revoke_not_found(&f.ada, id, "twice").await;
    f.revoke_not_found(&f.ada, &"no-such-key".into(), "unknown")
        .await;
}

#[tokio::test]
async fn unknown_malformed_and_wrong_keys_are_refused_alike() {
    let f = fixture();
    let created = f.create("ci", None).await;
    let text = created.key.expose().to_owned();
    let wrong_secret = format!(
        "{}{}",
        &text[..text.len() - 1],
        if text.ends_with('0') { '1' } else { '0' }
    );
    let unknown = FullKey::generate().expect("another key");

    for raw in [
        "",
        "Bearer",
        "pyk_",
        "not a key at all",
        &wrong_secret,
        unknown.expose(),
    ] {
        f.refused(raw).await;
    }
}

#[tokio::test]
async fn a_disabled_users_keys_stop_at_once() {
    let f = fixture();
    let created = f.create("ci", None).await;

    f.env.disable(&f.ada).await;

    f.refused(created.key.expose()).await;
}

#[tokio::test]
async fn last_used_at_is_written_at_most_once_a_minute() {
    let f = fixture();
    let created = f.create("ci", None).await;
    assert_eq!(f.listed().await[0].last_used_at, None);

    let one_minute_on = start() + TimeDelta::seconds(60);
    for (seconds, last_used, case) in [
        (0, start(), "first use"),
        (59, start(), "coalesced: no write"),
        (1, one_minute_on, "a minute on"),
    ] {
        f.env.clock.advance(TimeDelta::seconds(seconds));
        f.works(&created, case).await;
        assert_eq!(f.listed().await[0].last_used_at, Some(last_used), "{case}");
    }
}

#[test]
fn only_a_taken_public_id_is_drawn_again() {
    let unique = |constraint: &str| RepoError::UniqueViolation {
        constraint: constraint.to_owned(),
    };
    assert!(is_public_id_clash(&unique("api_keys.public_id")));
    assert!(!is_public_id_clash(&unique("api_keys.id")));
    assert!(!is_public_id_clash(&unique("users.email")));
    assert!(!is_public_id_clash(&RepoError::NotFound));
}

#[tokio::test]
async fn limits_naming_an_unknown_model_are_refused_on_create_and_on_set() {
    let f = fixture();
    let limits = || KeyLimits {
        models: Some(vec!["echo-1".to_owned(), "gpt-nope".to_owned()]),
        ..KeyLimits::none()
    };
    let named = |result: Result<_, AuthError>| match result {
        Err(AuthError::Validation(errors)) => {
            errors.into_iter().map(|e| e.field).collect::<Vec<String>>()
        }
        other => panic!("{:?}", other.map(|_| ())),
    };

    let created = f
        .service
        .create(
            &f.ada,
            NewKey {
                limits: limits(),
                ..key("script", None)
            },
        )
        .await;
    assert_eq!(named(created.map(|_| ())), ["limits.models[1]"]);
    assert!(f.listed().await.is_empty(), "no key was created");

    let key_id = f.create("script", None).await.info.id;
    let set = f.service.set_limits(&f.ada, &key_id, limits()).await;
    assert_eq!(named(set.map(|_| ())), ["limits.models[1]"]);
    assert_eq!(f.listed().await[0].limits, KeyLimits::none(), "unchanged");
}

#[tokio::test]
async fn any_other_error_of_a_new_key_is_returned_at_once_not_drawn_again() {
    let f = fixture();
    let nobody = UserId::from("no-such-user");

    let result = f.service.create(&nobody, key("script", None)).await;

    assert_matches!(
        result,
        Err(AuthError::Unexpected(ref e))
            if matches!(e.downcast_ref::<RepoError>(), Some(RepoError::ForeignKeyViolation))
    );
}
