use super::*;

fn parse(text: &str) -> Result<ProviderRegistry, ProvidersFileError> {
    parse_providers_file(text, "providers.toml", |name| {
        (name == "LOCAL_LLM_KEY").then(|| "sk-local".to_owned())
    })
}

fn problem(text: &str) -> String {
    let err = parse(text).expect_err("invalid");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    assert!(
        err.to_string()
            .starts_with("providers file providers.toml: "),
        "{err}"
    );
    err.problem
}

const GOOD: &str = r#"
[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"
api_key_env = "LOCAL_LLM_KEY"
models = ["llama3.2:1b", "qwen2.5:0.5b"]
timeout_secs = 60

[[providers]]
name = "cloud"
kind = "openai"
base_url = "https://api.example.com/v1/"
models = ["big-1"]
timeout_secs = 0.5
deadline_secs = 120
description = "The big one"
"#;

#[test]
fn the_contract_example_parses_with_echo_first() {
    let registry = parse(GOOD).expect("valid");
    let models: Vec<(&str, &str)> = registry
        .models()
        .iter()
        .map(|m| (m.id.as_str(), m.provider.as_str()))
        .collect();
    assert_eq!(
        models,
        [
            ("echo-1", "echo"),
            ("llama3.2:1b", "local"),
            ("qwen2.5:0.5b", "local"),
            ("big-1", "cloud")
        ]
    );
    assert_eq!(registry.models()[3].description, "The big one");
    assert!(
        !registry.models()[1].description.contains("11434"),
        "a default description does not publish the base URL: {:?}",
        registry.models()[1]
    );
    assert!(
        format!("{:?}", registry.provider("llama3.2:1b")).contains("[redacted]"),
        "the key is not shown"
    );
    assert!(!format!("{registry:?}").contains("sk-local"));
    let deadline = |model: &str| {
        let shown = format!("{:?}", registry.provider(model));
        shown.contains(match model {
            "big-1" => "deadline: 120s",
            _ => "deadline: 600s",
        })
    };
    assert!(
        deadline("big-1") && deadline("llama3.2:1b"),
        "deadlines set"
    );
}

#[test]
fn context_windows_come_from_the_model_then_the_provider_then_the_default() {
    let registry = parse(
        r#"
[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"
models = ["plain"]

[[providers]]
name = "cloud"
kind = "openai"
base_url = "https://api.example.com/v1"
context_tokens = 32000
models = ["inherits", { id = "long", context_tokens = 128000 }, { id = "stateless", context_tokens = 0 }]
"#,
    )
    .expect("valid");

    let windows: Vec<(&str, u32)> = registry
        .models()
        .iter()
        .map(|m| (m.id.as_str(), m.context_tokens))
        .collect();
    assert_eq!(
        windows,
        [
            ("echo-1", 0),
            ("plain", DEFAULT_CONTEXT_TOKENS),
            ("inherits", 32_000),
            ("long", 128_000),
            ("stateless", 0)
        ]
    );
    assert_eq!(
        registry.route("long").map(|r| r.context_tokens),
        Some(128_000)
    );
}

#[test]
fn an_empty_file_gives_just_echo() {
    assert_eq!(parse("").expect("valid").models().len(), 1);
}

#[test]
fn every_malformed_file_is_one_line_naming_the_problem() {
    let one = |fields: &str| format!("[[providers]]\n{fields}\n");
    let base = r#"name = "p"
kind = "openai"
base_url = "http://localhost:1/v1"
models = ["m"]"#;
    for (text, expected) in [
        ("[[providers]\nname = ".to_owned(), "invalid TOML at line 1"),
        ("providers = 5".to_owned(), "invalid TOML"),
        (
            one(&format!("{base}\ncolour = \"red\"")),
            "unknown field `colour`",
        ),
        (one(r#"kind = "openai""#), "missing field `name`"),
        (
            one(&base.replace("openai", "anthropic")),
            "unknown kind \"anthropic\"",
        ),
        (
            one(&base.replace("http://localhost:1/v1", "localhost:1")),
            "is not an http(s) URL",
        ),
        (
            one(&base.replace("http://localhost:1/v1", "ftp://x/v1")),
            "is not an http(s) URL",
        ),
        (one(&base.replace(r#"["m"]"#, "[]")), "lists no models"),
        (
            one(&format!("{base}\ncontext_tokens = -1")),
            "context_tokens must be from 0 to 10000000 (it is -1)",
        ),
        (
            one(&format!("{base}\ncontext_tokens = 10000001")),
            "context_tokens must be from 0 to 10000000",
        ),
        (
            one(&base.replace(
                r#"["m"]"#,
                r#"[{ id = "m", context_tokens = 99999999999 }]"#,
            )),
            "model \"m\": context_tokens must be from 0 to 10000000",
        ),
        (
            one(&base.replace(r#"["m"]"#, r#"[{ id = "m", window = 5 }]"#)),
            "unknown field `window`",
        ),
        (
            one(&base.replace(r#"["m"]"#, r#"[{ context_tokens = 5 }]"#)),
            "missing field `id`",
        ),
        (
            one(&base.replace(r#"["m"]"#, "[5]")),
            "expected a model id, or a table",
        ),
        (
            one(&base.replace(r#"["m"]"#, r#"["m", { id = "m" }]"#)),
            "model id \"m\" is already served",
        ),
        (
            one(&base.replace(r#"["m"]"#, r#"["m", " "]"#)),
            "empty model id",
        ),
        (
            one(&base.replace(r#"["m"]"#, r#"["echo-1"]"#)),
            "model id \"echo-1\" is already served",
        ),
        (
            one(&base.replace(r#"name = "p""#, r#"name = "echo""#)),
            "the name is used twice",
        ),
        (
            one(&base.replace(r#"name = "p""#, r#"name = """#)),
            "empty name",
        ),
        (
            one(&format!("{base}\napi_key_env = \"MISSING_KEY\"")),
            "the key variable MISSING_KEY is not set",
        ),
        (
            one(&format!("{base}\ntimeout_secs = 0")),
            "timeout_secs must be more than 0",
        ),
        (
            one(&format!("{base}\ntimeout_secs = -1.5")),
            "timeout_secs must be more than 0",
        ),
        (
            one(&format!("{base}\ntimeout_secs = 30\ndeadline_secs = 10")),
            "deadline_secs must be at least timeout_secs (30)",
        ),
        (
            one(&format!("{base}\ndeadline_secs = 90000")),
            "and at most 86400",
        ),
        (
            format!(
                "{}{}",
                one(base),
                one(&base.replace(r#"name = "p""#, r#"name = "q""#))
            ),
            "model id \"m\" is already served",
        ),
        (
            format!(
                "{}{}",
                one(base),
                one(&base.replace(r#"["m"]"#, r#"["n"]"#))
            ),
            "the name is used twice",
        ),
    ] {
        let problem = problem(&text);
        assert!(
            problem.contains(expected),
            "{text:?}\n→ {problem}\n(expected {expected:?})"
        );
    }
}

#[test]
fn an_unreadable_file_is_named() {
    let err = load_providers_file(Path::new("/no/such/providers.toml")).expect_err("missing");
    assert_eq!(err.path, "/no/such/providers.toml");
    assert!(err.problem.starts_with("cannot be read"), "{err}");
}
