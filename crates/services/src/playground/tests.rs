use std::time::Duration;

use chrono::TimeDelta;
use futures_util::StreamExt;
use promptyard_repositories::DbConfig;
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use promptyard_test_support::{TestDb, UserFactory};
use serde_json::json;

use chrono::{DateTime, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::ids::UuidV7Ids;
use crate::providers::{ChatMessage, ChatRequest, Role, StreamEvent};
use crate::providers::{DEFAULT_CONTEXT_TOKENS, ModelSpec, OpenAiProvider};
use promptyard_repositories::{ConversationId, ConversationRepository, UserId};

/// The context window of `fake-small`, served by the fake upstream.
const SMALL_WINDOW: u32 = 40;

/// The options a message is sent with, as a test states them.
#[derive(Debug, Clone, Copy, Default)]
struct MessageOptions {
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

/// A message to send, parsed (the rules are the parsers' own tests).
fn msg(content: &str, options: MessageOptions) -> NewMessage {
    NewMessage {
        content: MessageContent::parse(content).expect("valid content"),
        sampling: Sampling {
            temperature: options
                .temperature
                .map(|t| Temperature::parse(t).expect("valid temperature")),
            max_tokens: options
                .max_tokens
                .map(|m| MaxTokens::parse(f64::from(m)).expect("valid max_tokens")),
        },
    }
}

/// A conversation to start, parsed.
fn conv(model: &str, title: Option<&str>, system_prompt: Option<&str>) -> NewConversation {
    NewConversation {
        model: model.to_owned(),
        title: title.map(|t| Title::parse(t).expect("valid title")),
        system_prompt: system_prompt.map(|p| SystemPrompt::parse(p).expect("valid prompt")),
    }
}

/// A page request.
fn page(limit: Option<i64>, before: Option<&ConversationId>) -> PageRequest {
    PageRequest {
        limit: limit.map_or_else(PageLimit::default, |l| {
            PageLimit::parse(&l.to_string()).expect("valid limit")
        }),
        before: before.cloned(),
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("valid")
        .to_utc()
}

struct Fixture {
    playground: PlaygroundService,
    clock: ManualClock,
    ada: UserId,
    grace: UserId,
    fake: FakeOpenAi,
    test_db: TestDb,
}

fn fixture() -> Fixture {
    let test_db = TestDb::new();
    let (ada, grace) = {
        let mut conn = test_db.conn();
        (
            UserFactory::new().insert(&mut conn).id,
            UserFactory::new().insert(&mut conn).id,
        )
    };
    let fake = FakeOpenAi::start();
    let mut registry = ProviderRegistry::with_echo();
    let upstream = OpenAiProvider::new("local", &fake.base_url(), None, Duration::from_millis(500))
        .expect("provider");
    registry
        .add(
            Arc::new(upstream),
            &[
                ModelSpec::new("fake-1", DEFAULT_CONTEXT_TOKENS),
                ModelSpec::new("fake-small", SMALL_WINDOW),
            ],
            "the fake upstream",
        )
        .expect("add");
    let clock = ManualClock::new(start());
    let db = Db::open(DbConfig::new(test_db.url())).expect("db");
    Fixture {
        playground: PlaygroundService::new(
            db,
            Arc::new(clock.clone()),
            Arc::new(UuidV7Ids),
            Arc::new(registry),
        ),
        clock,
        ada,
        grace,
        fake,
        test_db,
    }
}

async fn conversation(f: &Fixture, model: &str, system_prompt: Option<&str>) -> ConversationInfo {
    f.playground
        .create_conversation(&f.ada, conv(model, Some("A chat"), system_prompt))
        .await
        .expect("create")
}

async fn stored_messages(f: &Fixture, id: &ConversationId) -> Vec<(String, String)> {
    let ConversationWithMessages {
        conversation: _,
        messages,
    } = f
        .playground
        .get_conversation(&f.ada, id)
        .await
        .expect("get");
    messages.into_iter().map(|m| (m.role, m.content)).collect()
}

fn fields(err: PlaygroundError) -> Vec<String> {
    match err {
        PlaygroundError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn conversations_need_a_known_model() {
    let f = fixture();
    let err = f
        .playground
        .create_conversation(&f.ada, conv("gpt-9", Some("t"), Some("ok")))
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, PlaygroundError::UnknownModel(ref m) if m == "gpt-9"),
        "{err:?}"
    );
    assert!(f.playground.knows_model("echo-1"));
    assert!(!f.playground.knows_model("gpt-9"));

    let created = conversation(&f, "echo-1", Some("Be brief.")).await;
    assert_eq!(created.model, "echo-1");
    assert_eq!(created.title.as_deref(), Some("A chat"));
    assert_eq!(created.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!((created.created_at, created.updated_at), (start(), start()));
    let untitled = f
        .playground
        .create_conversation(&f.ada, conv("echo-1", None, None))
        .await
        .expect("no title");
    assert_eq!(untitled.title, None);
    assert_eq!(f.playground.models()[0].id, "echo-1");
}

#[tokio::test]
async fn an_echo_exchange_is_stored_with_its_usage() {
    let f = fixture();
    let c = conversation(&f, "echo-1", Some("Be brief.")).await;
    f.clock.advance(TimeDelta::seconds(5));

    let exchange = f
        .playground
        .send_message(&f.ada, &c.id, msg("hello there", MessageOptions::default()))
        .await
        .expect("send");

    assert_eq!(exchange.assistant_message.content, "hello there");
    assert_eq!(exchange.user_message.role, "user");
    assert_eq!(exchange.assistant_message.role, "assistant");
    assert_eq!(exchange.usage, Tokens::new(4, 2));
    assert_eq!(
        stored_messages(&f, &c.id).await,
        [
            ("user".into(), "hello there".into()),
            ("assistant".into(), "hello there".into())
        ]
    );
    let ConversationWithMessages {
        conversation,
        messages: _,
    } = f
        .playground
        .get_conversation(&f.ada, &c.id)
        .await
        .expect("get");
    assert_eq!(conversation.updated_at, start() + TimeDelta::seconds(5));
    let usage = f.playground.usage(&f.ada).await.expect("usage");
    assert_eq!(usage.total, Tokens::new(4, 2));
    assert_eq!(
        usage.by_model,
        [ModelUsage {
            model: "echo-1".to_owned(),
            usage: Tokens::new(4, 2)
        }]
    );
}

#[tokio::test]
async fn the_upstream_receives_the_system_prompt_the_history_and_the_new_message() {
    let f = fixture();
    let c = conversation(&f, "fake-1", Some("You are a pirate.")).await;
    f.playground
        .send_message(&f.ada, &c.id, msg("Ahoy?", MessageOptions::default()))
        .await
        .expect("first");

    f.playground
        .send_message(
            &f.ada,
            &c.id,
            msg(
                "Where is the gold?",
                MessageOptions {
                    temperature: Some(0.2),
                    max_tokens: Some(50),
                },
            ),
        )
        .await
        .expect("second");

    let sent = &f.fake.requests()[1].body;
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Ahoy?"},
            {"role": "assistant", "content": "fake: Ahoy?"},
            {"role": "user", "content": "Where is the gold?"},
        ])
    );
    assert_eq!(
        (
            sent["model"].clone(),
            sent["temperature"].clone(),
            sent["max_tokens"].clone()
        ),
        (json!("fake-1"), json!(0.2), json!(50))
    );
}

/// A `fake-small` conversation with the system prompt "Be brief." and two
/// exchanges: "one two three" answered "A" (which the provider counts as
/// 10 tokens), then "four five" answered "fake: four five" (3).
async fn two_exchanges(f: &Fixture) -> ConversationId {
    let c = conversation(f, "fake-small", Some("Be brief.")).await;
    f.fake.push(Reply::Complete {
        content: "A".into(),
        usage: Some((5, 10)),
    });
    for content in ["one two three", "four five"] {
        f.clock.advance(TimeDelta::seconds(1));
        f.playground
            .send_message(&f.ada, &c.id, msg(content, MessageOptions::default()))
            .await
            .expect("send");
    }
    c.id
}

fn sent_messages(f: &Fixture) -> Vec<(String, String)> {
    let requests = f.fake.requests();
    let last = requests.last().expect("a request");
    last.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().expect("role").to_owned(),
                m["content"].as_str().expect("content").to_owned(),
            )
        })
        .collect()
}

fn pair(role: &str, content: &str) -> (String, String) {
    (role.to_owned(), content.to_owned())
}

#[tokio::test]
async fn each_message_is_stored_with_its_own_token_count() {
    let f = fixture();
    let id = two_exchanges(&f).await;

    let tokens: Vec<i32> = ConversationRepository::messages(&mut f.test_db.conn(), &id)
        .expect("rows")
        .into_iter()
        .map(|m| m.tokens)
        .collect();

    // Words for a question; the provider's completion_tokens for an answer.
    assert_eq!(tokens, [3, 10, 2, 3]);
}

#[tokio::test]
async fn a_model_is_sent_the_newest_history_that_fits_its_window() {
    let f = fixture();
    let id = two_exchanges(&f).await;

    f.playground
        .send_message(&f.ada, &id, msg("six", MessageOptions::default()))
        .await
        .expect("send");

    // Window 40, less "Be brief." (2 + 4) and "six" (1 + 4): 29 for the
    // history. Newest first: "fake: four five" 3 + 4, "four five" 2 + 4,
    // "A" 10 + 4 (22 so far), "one two three" 3 + 4 does not fit. "A"
    // would lead without its question, so it is left out too.
    assert_eq!(
        sent_messages(&f),
        [
            pair("system", "Be brief."),
            pair("user", "four five"),
            pair("assistant", "fake: four five"),
            pair("user", "six"),
        ]
    );
}

#[tokio::test]
async fn max_tokens_is_kept_free_in_the_window() {
    let f = fixture();
    let id = two_exchanges(&f).await;
    let send = |content: &'static str, max_tokens| {
        let (f, id) = (&f, id.clone());
        async move {
            let options = MessageOptions {
                max_tokens: Some(max_tokens),
                ..MessageOptions::default()
            };
            f.playground
                .send_message(&f.ada, &id, msg(content, options))
                .await
                .expect("send");
            sent_messages(f)
        }
    };

    // 29 - 12 = 17 for the history: the last exchange (7 + 6) only.
    assert_eq!(
        send("six", 12).await,
        [
            pair("system", "Be brief."),
            pair("user", "four five"),
            pair("assistant", "fake: four five"),
            pair("user", "six"),
        ]
    );
    // 29 - 20 = 9: only the last answer fits, and it is not sent alone.
    assert_eq!(
        send("seven", 20).await,
        [pair("system", "Be brief."), pair("user", "seven")]
    );
}

#[tokio::test]
async fn a_new_message_longer_than_the_window_is_still_sent_whole() {
    let f = fixture();
    let id = two_exchanges(&f).await;
    let long = "word ".repeat(100);

    f.playground
        .send_message(&f.ada, &id, msg(&long, MessageOptions::default()))
        .await
        .expect("send");

    assert_eq!(
        sent_messages(&f),
        [pair("system", "Be brief."), pair("user", &long)]
    );
}

#[tokio::test]
async fn echo_is_sent_no_history_so_its_prompt_does_not_grow() {
    let f = fixture();
    let c = conversation(&f, "echo-1", Some("Be brief.")).await;
    let mut prompts = Vec::new();
    for _ in 0..3 {
        let exchange = f
            .playground
            .send_message(&f.ada, &c.id, msg("hello there", MessageOptions::default()))
            .await
            .expect("send");
        prompts.push(exchange.usage.prompt_tokens);
    }

    assert_eq!(prompts, [4, 4, 4], "the system prompt and the new message");
    assert_eq!(stored_messages(&f, &c.id).await.len(), 6, "all kept");
}

#[tokio::test]
async fn a_conversation_whose_model_is_gone_gets_a_validation_error() {
    let f = fixture();
    let c = conversation(&f, "fake-1", None).await;
    let echo_only = PlaygroundService::new(
        Db::open(DbConfig::new(f.test_db.url())).expect("db"),
        Arc::new(f.clock.clone()),
        Arc::new(UuidV7Ids),
        Arc::new(ProviderRegistry::with_echo()),
    );

    let err = echo_only
        .send_message(&f.ada, &c.id, msg("hi", MessageOptions::default()))
        .await
        .expect_err("model gone");

    assert_eq!(fields(err), ["model"]);
    assert!(f.fake.requests().is_empty());
}

#[tokio::test]
async fn a_failing_or_hanging_provider_stores_nothing() {
    let f = fixture();
    let c = conversation(&f, "fake-1", None).await;
    f.fake
        .push(Reply::Status(500, "{}".into()))
        .push(Reply::Hang)
        .push(Reply::Raw("{}".into()));

    for _ in 0..3 {
        let err = f
            .playground
            .send_message(&f.ada, &c.id, msg("hi", MessageOptions::default()))
            .await
            .expect_err("fails");
        assert!(matches!(err, PlaygroundError::Provider(_)), "{err:?}");
    }

    assert!(stored_messages(&f, &c.id).await.is_empty());
    assert_eq!(
        f.playground.usage(&f.ada).await.expect("usage"),
        UsageSummary::default()
    );
}

#[tokio::test]
async fn a_streamed_exchange_yields_deltas_then_the_stored_exchange() {
    let f = fixture();
    let c = conversation(&f, "fake-1", None).await;
    f.fake.push(Reply::Stream {
        deltas: vec!["Once ".into(), "upon ".into(), "a time".into()],
        usage: Some((7, 4)),
        end: StreamEnd::Done,
    });

    let events: Vec<ExchangeEvent> = f
        .playground
        .stream_message(
            &f.ada,
            &c.id,
            msg("Tell a story", MessageOptions::default()),
        )
        .await
        .expect("stream")
        .map(|e| e.expect("event"))
        .collect()
        .await;

    let (done, deltas) = events.split_last().expect("events");
    let text: String = deltas
        .iter()
        .map(|e| match e {
            ExchangeEvent::Delta(t) => t.as_str(),
            ExchangeEvent::Done(_) => panic!("done twice"),
        })
        .collect();
    assert_eq!(text, "Once upon a time");
    let ExchangeEvent::Done(exchange) = done else {
        panic!("{done:?}")
    };
    assert_eq!(exchange.assistant_message.content, text);
    assert_eq!(exchange.usage, Tokens::new(7, 4));
    assert_eq!(stored_messages(&f, &c.id).await.len(), 2);
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_stores_nothing() {
    let f = fixture();
    let c = conversation(&f, "fake-1", None).await;
    f.fake.push(Reply::Stream {
        deltas: vec!["Once ".into()],
        usage: None,
        end: StreamEnd::Cut,
    });

    let mut stream = f
        .playground
        .stream_message(
            &f.ada,
            &c.id,
            msg("Tell a story", MessageOptions::default()),
        )
        .await
        .expect("started");
    assert_eq!(
        stream.next().await.expect("event").expect("delta"),
        ExchangeEvent::Delta("Once ".into())
    );
    let end = stream.next().await.expect("event");
    assert!(matches!(end, Err(PlaygroundError::Provider(_))), "{end:?}");
    assert!(stream.next().await.is_none());

    assert!(stored_messages(&f, &c.id).await.is_empty());
    assert!(
        f.playground
            .usage(&f.ada)
            .await
            .expect("usage")
            .by_model
            .is_empty()
    );
}

#[tokio::test]
async fn a_conversation_deleted_while_answering_stores_nothing() {
    let f = fixture();
    let c = conversation(&f, "echo-1", None).await;
    let mut stream = f
        .playground
        .stream_message(&f.ada, &c.id, msg("one two", MessageOptions::default()))
        .await
        .expect("started");
    assert!(matches!(
        stream.next().await,
        Some(Ok(ExchangeEvent::Delta(_)))
    ));

    f.playground
        .delete_conversation(&f.ada, &c.id)
        .await
        .expect("delete");
    let rest: Vec<_> = stream.collect().await;

    assert!(
        matches!(rest.last(), Some(Err(PlaygroundError::NotFound))),
        "{rest:?}"
    );
    assert_eq!(
        f.playground.usage(&f.ada).await.expect("usage"),
        UsageSummary::default()
    );
}

#[tokio::test]
async fn messages_at_the_bounds_reach_the_provider() {
    let f = fixture();
    let c = conversation(&f, "fake-1", None).await;
    let edge = MessageOptions {
        temperature: Some(2.0),
        max_tokens: Some(32_768),
    };
    f.playground
        .send_message(&f.ada, &c.id, msg(&"é".repeat(100_000), edge))
        .await
        .expect("the bounds are allowed");
    let sent = f.fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["temperature"], json!(2.0));
    assert_eq!(sent[0].body["max_tokens"], json!(32_768));
}

#[tokio::test]
async fn other_users_get_not_found_everywhere() {
    let f = fixture();
    let c = conversation(&f, "echo-1", None).await;

    let get = f
        .playground
        .get_conversation(&f.grace, &c.id)
        .await
        .expect_err("get");
    let send = f
        .playground
        .send_message(&f.grace, &c.id, msg("hi", MessageOptions::default()))
        .await
        .expect_err("send");
    let delete = f
        .playground
        .delete_conversation(&f.grace, &c.id)
        .await
        .expect_err("delete");

    for err in [get, send, delete] {
        assert!(matches!(err, PlaygroundError::NotFound), "{err:?}");
    }
    assert!(f.playground.get_conversation(&f.ada, &c.id).await.is_ok());
}

#[tokio::test]
async fn lists_page_newest_first_with_a_cursor_and_validate_it() {
    let f = fixture();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(conversation(&f, "echo-1", None).await.id);
        f.clock.advance(TimeDelta::seconds(1));
    }
    f.playground
        .create_conversation(&f.grace, conv("echo-1", None, None))
        .await
        .expect("grace's");
    ids.reverse();

    let first = f
        .playground
        .list_conversations(&f.ada, page(Some(2), None))
        .await
        .expect("page 1");
    let second = f
        .playground
        .list_conversations(&f.ada, page(Some(2), first.next_before.as_ref()))
        .await
        .expect("page 2");
    let third = f
        .playground
        .list_conversations(&f.ada, page(Some(2), second.next_before.as_ref()))
        .await
        .expect("page 3");
    let all = f
        .playground
        .list_conversations(&f.ada, page(None, None))
        .await
        .expect("default limit");

    let ids_of = |p: &Page| p.items.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids_of(&first), ids[0..2]);
    assert_eq!(ids_of(&second), ids[2..4]);
    assert_eq!(ids_of(&third), ids[4..5]);
    assert_eq!(third.next_before, None);
    assert_eq!(ids_of(&all), ids);
    assert_eq!(all.next_before, None, "exactly the last page");

    let grace_first = f
        .playground
        .list_conversations(&f.grace, page(None, None))
        .await
        .expect("grace")
        .items[0]
        .id
        .clone();
    for before in [
        ConversationId::from(""),
        ConversationId::from("no-such-id"),
        grace_first,
    ] {
        let err = f
            .playground
            .list_conversations(&f.ada, page(None, Some(&before)))
            .await
            .expect_err("invalid");
        assert_eq!(fields(err), ["before"]);
    }
}

#[tokio::test]
async fn deleting_a_conversation_keeps_its_usage() {
    let f = fixture();
    let c = conversation(&f, "echo-1", None).await;
    f.playground
        .send_message(
            &f.ada,
            &c.id,
            msg("one two three", MessageOptions::default()),
        )
        .await
        .expect("send");

    f.playground
        .delete_conversation(&f.ada, &c.id)
        .await
        .expect("delete");

    assert!(matches!(
        f.playground.get_conversation(&f.ada, &c.id).await,
        Err(PlaygroundError::NotFound)
    ));
    assert_eq!(
        f.playground
            .usage(&f.ada)
            .await
            .expect("usage")
            .total
            .total_tokens,
        6
    );
    let _ = &f.test_db;
}

#[tokio::test]
async fn the_gateway_records_usage_and_knows_unknown_models() {
    let f = fixture();
    let request = |model: &str| ChatRequest {
        model: model.into(),
        messages: vec![ChatMessage::new(Role::User, "count these words")],
        temperature: None,
        max_tokens: None,
    };

    let err = f
        .playground
        .gateway_complete(&f.ada, request("gpt-9"))
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, PlaygroundError::UnknownModel(ref m) if m == "gpt-9"),
        "{err:?}"
    );
    let completion = f
        .playground
        .gateway_complete(&f.ada, request("echo-1"))
        .await
        .expect("echo");
    assert_eq!(completion.content, "count these words");
    let events: Vec<_> = f
        .playground
        .gateway_stream(&f.ada, request("fake-1"))
        .await
        .expect("stream")
        .collect()
        .await;
    assert!(
        matches!(events.last(), Some(Ok(StreamEvent::Done { .. }))),
        "{events:?}"
    );

    let usage = f.playground.usage(&f.ada).await.expect("usage");
    let models: Vec<&str> = usage.by_model.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(models, ["echo-1", "fake-1"]);
    assert_eq!(usage.by_model[0].usage, Tokens::new(3, 3));
}
