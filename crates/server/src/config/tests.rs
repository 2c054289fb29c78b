use super::*;

fn args() -> ConfigArgs {
    ConfigArgs {
        bind: "127.0.0.1:8080".into(),
        database_url: UrlText("promptyard.db".to_owned()),
        secret_key: None,
        session_ttl_secs: "604800".into(),
        cookie_secure: "false".into(),
        cors_origins: String::new(),
        login_max_failures: "10".into(),
        login_window_secs: "900".into(),
        purge_interval_secs: "600".into(),
        hash_workers: None,
        hash_queue: "256".into(),
        hash_max_wait_ms: "2000".into(),
        providers_file: None,
        default_reserved_tokens: "1024".into(),
        log: "info".into(),
    }
}

fn serve(args: &ConfigArgs) -> Result<ServeConfig, ConfigError> {
    ServeConfig::from_args(args, DatabaseUrl::sqlite("promptyard.db"))
}

/// The one-line error of the defaults changed by `change`.
fn refused(change: impl FnOnce(&mut ConfigArgs)) -> String {
    let mut a = args();
    change(&mut a);
    serve(&a).expect_err("the settings are refused").to_string()
}

#[test]
fn the_contract_defaults_are_valid() {
    let config = serve(&args()).expect("valid");
    assert_eq!(config.bind, vec!["127.0.0.1:8080".parse().expect("addr")]);
    assert_eq!(config.auth, AuthConfig::default());
    assert!(!config.cookie_secure);
    assert!(config.cors_origins.is_empty());
    assert!(config.secret_key.is_none());
    assert_eq!(config.purge_interval, Duration::from_secs(600));
    assert_eq!(config.hasher, HasherConfig::default());
    assert_eq!(
        config.default_reserved_tokens,
        promptyard_services::limits::DEFAULT_RESERVED_COMPLETION_TOKENS
    );
}

#[test]
fn the_default_reservation_is_a_max_tokens_value() {
    let mut a = args();
    a.default_reserved_tokens = "32768".into();
    assert_eq!(serve(&a).expect("valid").default_reserved_tokens, 32_768);
    for (bad, expected) in [
        (
            "0",
            "invalid PROMPTYARD_DEFAULT_RESERVED_TOKENS \"0\": expected a whole number",
        ),
        (
            "32769",
            "invalid PROMPTYARD_DEFAULT_RESERVED_TOKENS \"32769\": at most 32768",
        ),
        (
            "99999999999",
            "invalid PROMPTYARD_DEFAULT_RESERVED_TOKENS \"99999999999\": at most 32768",
        ),
    ] {
        let message = refused(|a| a.default_reserved_tokens = bad.into());
        assert!(message.starts_with(expected), "{message}");
    }
}

#[test]
fn the_password_hasher_is_configurable_within_bounds() {
    let mut a = args();
    a.hash_workers = Some("3".into());
    a.hash_queue = "10".into();
    a.hash_max_wait_ms = "250".into();
    assert_eq!(
        serve(&a).expect("valid").hasher,
        HasherConfig {
            workers: 3,
            queue: 10,
            max_wait: Duration::from_millis(250)
        }
    );
    a.hash_workers = Some(" ".into());
    assert_eq!(
        serve(&a).expect("valid").hasher.workers,
        HasherConfig::default_workers(),
        "empty means the default"
    );

    for (field, bad, expected) in [
        (
            "workers",
            "0",
            "invalid PROMPTYARD_HASH_WORKERS \"0\": expected a whole number greater than 0",
        ),
        (
            "workers",
            "65",
            "invalid PROMPTYARD_HASH_WORKERS \"65\": at most 64",
        ),
        ("workers", "two", "invalid PROMPTYARD_HASH_WORKERS \"two\""),
        ("queue", "0", "invalid PROMPTYARD_HASH_QUEUE \"0\""),
        (
            "queue",
            "100001",
            "invalid PROMPTYARD_HASH_QUEUE \"100001\": at most 100000",
        ),
        ("wait", "-5", "invalid PROMPTYARD_HASH_MAX_WAIT_MS \"-5\""),
        (
            "wait",
            "60001",
            "invalid PROMPTYARD_HASH_MAX_WAIT_MS \"60001\": at most 60000",
        ),
    ] {
        let message = refused(|a| match field {
            "workers" => a.hash_workers = Some(bad.into()),
            "queue" => a.hash_queue = bad.into(),
            _ => a.hash_max_wait_ms = bad.into(),
        });
        assert!(message.starts_with(expected), "{message}");
    }
}

#[test]
fn host_names_and_ipv6_addresses_are_accepted() {
    for bind in ["localhost:0", "[::1]:8080"] {
        let mut a = args();
        a.bind = bind.into();
        assert!(serve(&a).is_ok(), "{bind}");
    }
}

#[test]
fn an_unparsable_bind_address_is_one_line_naming_the_variable() {
    for bad in [
        "nonsense",
        "127.0.0.1",
        "127.0.0.1:notaport",
        "127.0.0.1:99999",
        "",
    ] {
        let message = refused(|a| a.bind = bad.into());
        assert!(message.starts_with("invalid PROMPTYARD_BIND"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn an_empty_or_in_memory_database_url_is_refused() {
    for bad in [
        "",
        "  ",
        ":memory:",
        "sqlite://:memory:",
        "file::memory:?cache=shared",
    ] {
        let err = database_url(bad).expect_err(bad);
        assert!(
            err.to_string()
                .starts_with("invalid PROMPTYARD_DATABASE_URL"),
            "{err}"
        );
    }
    let url = database_url("sqlite://data/p.db").expect("ok");
    assert_eq!(url.sqlite_path(), Some("data/p.db"));
}

#[test]
fn a_postgres_url_is_never_echoed_with_its_password() {
    let value = "postgres://ada:hunter2secret@db.example:5432/promptyard";
    let url = database_url(value).expect("a PostgreSQL URL");
    let err = ServeConfig::from_args(&args(), url.clone()).expect_err("no secret key");
    let refused = database_url("postgres://ada:hunter2secret@").expect_err("no host");
    let mut args = args();
    args.database_url = UrlText(value.to_owned());
    assert!(
        err.to_string().contains("PROMPTYARD_SECRET_KEY"),
        "several processes need one key: {err}"
    );
    for shown in [refused.to_string(), format!("{url:?}"), format!("{args:?}")] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ada:***@"), "{shown}");
    }
}

#[test]
fn numbers_must_be_positive_whole_numbers() {
    for (set, variable) in [
        (
            (|a: &mut ConfigArgs, v: &str| a.session_ttl_secs = v.into())
                as fn(&mut ConfigArgs, &str),
            "PROMPTYARD_SESSION_TTL_SECS",
        ),
        (
            |a, v| a.login_max_failures = v.into(),
            "PROMPTYARD_LOGIN_MAX_FAILURES",
        ),
        (
            |a, v| a.login_window_secs = v.into(),
            "PROMPTYARD_LOGIN_WINDOW_SECS",
        ),
        (
            |a, v| a.purge_interval_secs = v.into(),
            "PROMPTYARD_PURGE_INTERVAL_SECS",
        ),
    ] {
        for bad in ["0", "-5", "ten", "1.5", ""] {
            let message = refused(|a| set(a, bad));
            assert!(
                message.starts_with(&format!("invalid {variable}")),
                "{message}"
            );
        }
    }
    let message = refused(|a| a.session_ttl_secs = "99999999999".into());
    assert!(message.contains("100 years"), "{message}");
}

#[test]
fn configured_numbers_reach_the_auth_settings() {
    let mut a = args();
    a.session_ttl_secs = "60".into();
    a.login_max_failures = "3".into();
    a.login_window_secs = "120".into();
    let config = serve(&a).expect("valid");
    assert_eq!(
        config.auth,
        AuthConfig {
            session_ttl: Duration::from_secs(60),
            max_failed_logins: 3,
            failed_login_window: Duration::from_secs(120),
        }
    );
}

#[test]
fn cookie_secure_reads_common_spellings_of_true_and_false() {
    for (value, expected) in [
        ("true", true),
        ("1", true),
        ("YES", true),
        ("false", false),
        ("0", false),
    ] {
        let mut a = args();
        a.cookie_secure = value.into();
        assert_eq!(serve(&a).expect(value).cookie_secure, expected, "{value}");
    }
    let message = refused(|a| a.cookie_secure = "maybe".into());
    assert!(
        message.starts_with("invalid PROMPTYARD_COOKIE_SECURE"),
        "{message}"
    );
}

#[test]
fn cors_origins_are_a_comma_separated_list_of_origins() {
    let mut a = args();
    a.cors_origins = " https://app.example.com, http://localhost:5173/ ,".into();
    assert_eq!(
        serve(&a).expect("valid").cors_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    for bad in [
        "app.example.com",
        "https://app.example.com/path",
        "ftp://x.io",
        "https://",
    ] {
        let message = refused(|a| a.cors_origins = bad.into());
        assert!(
            message.starts_with("invalid PROMPTYARD_CORS_ORIGINS"),
            "{message}"
        );
    }
}

#[test]
fn a_short_secret_key_is_refused_without_showing_it() {
    let message = refused(|a| a.secret_key = Some(Redacted("too-short-secret".into())));
    assert_eq!(
        message,
        "invalid PROMPTYARD_SECRET_KEY: it must be at least 64 bytes (it is 16)"
    );
    let mut a = args();
    a.secret_key = Some(Redacted("k".repeat(64)));
    assert_eq!(serve(&a).expect("ok").secret_key.map(|k| k.len()), Some(64));
}

#[test]
fn debug_output_never_shows_the_secret_key() {
    let mut a = args();
    a.secret_key = Some(Redacted("s3cr3t".repeat(20)));
    let config = serve(&a).expect("valid");
    let shown = format!("{a:?} {config:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn without_a_providers_file_only_echo_is_served() {
    let config = serve(&args()).expect("valid");
    let models: Vec<&str> = config
        .providers
        .models()
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(models, ["echo-1"]);
}

#[test]
fn a_providers_file_is_loaded_and_its_problems_are_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("providers.toml");
    std::fs::write(&good, "[[providers]]\nname = \"local\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"m1\"]\n").expect("write");
    let mut a = args();
    a.providers_file = Some(good.to_str().expect("utf-8").to_owned());
    let config = serve(&a).expect("valid");
    assert_eq!(config.providers.models().len(), 2);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[providers]]\nname = \"x\"\nkind = \"soap\"\nbase_url = \"http://h/v1\"\nmodels = [\"m\"]\n").expect("write");
    a.providers_file = Some(bad.to_str().expect("utf-8").to_owned());
    let message = serve(&a).expect_err("unknown kind").to_string();
    assert!(
        message.starts_with("invalid PROMPTYARD_PROVIDERS_FILE: providers file "),
        "{message}"
    );
    assert!(
        message.contains("bad.toml") && message.contains("unknown kind \"soap\""),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}
