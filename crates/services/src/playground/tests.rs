use std::time::Duration;

use chrono::TimeDelta;
use futures_util::StreamExt;
use promptyard_repositories::{ConversationId, ConversationRepository, UserId};
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use serde_json::json;

use super::*;
use crate::ids::UuidV7Ids;
use crate::limits::{KeyGrant, KeyLimits, LlmCaller, RefusalKind};
use crate::providers::{ChatMessage, ChatRequest, Role, StreamEvent};
use crate::providers::{DEFAULT_CONTEXT_TOKENS, ModelSpec, OpenAiProvider};
use crate::test_helpers::{self, TestEnv, assert_matches, start};

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

struct Fixture {
    playground: PlaygroundService,
    fake: FakeOpenAi,
    ada: UserId,
    grace: UserId,
    env: TestEnv,
}

/// A [`PlaygroundService`] over a fresh database holding two users, with
/// `echo-1` and the fake upstream's `fake-1` and `fake-small`.
fn fixture() -> Fixture {
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
    let registry = Arc::new(registry);
    let test_helpers::Fixture {
        service,
        ada,
        grace,
        env,
    } = test_helpers::Fixture::new(|env| service(env, registry));
    Fixture {
        playground: service,
        fake,
        ada,
        grace,
        env,
    }
}

/// A [`PlaygroundService`] over `env` with these providers.
fn service(env: &TestEnv, registry: Arc<ProviderRegistry>) -> PlaygroundService {
    PlaygroundService::new(env.db.clone(), env.clock(), Arc::new(UuidV7Ids), registry)
}

impl Fixture {
    /// Starts ada's conversation "A chat" with `model`.
    async fn conversation(&self, model: &str, system_prompt: Option<&str>) -> ConversationInfo {
        self.playground
            .create_conversation(
                &LlmCaller::session(self.ada.clone()),
                conv(model, Some("A chat"), system_prompt),
            )
            .await
            .expect("create")
    }

    /// Sends `content` to ada's conversation `id` with the default options.
    async fn send(&self, id: &ConversationId, content: &str) -> Result<Exchange, PlaygroundError> {
        let message = msg(content, MessageOptions::default());
        self.playground
            .send_message(&LlmCaller::session(self.ada.clone()), id, message)
            .await
    }

    /// Streams `content` to ada's conversation `id` with the default options.
    /// Sends `content` asking for `max_tokens` (kept free in the window);
    /// returns what the fake upstream was sent.
    async fn send_keeping_free(
        &self,
        id: &ConversationId,
        content: &str,
        max_tokens: u32,
    ) -> Vec<(String, String)> {
        let options = MessageOptions {
            max_tokens: Some(max_tokens),
            ..MessageOptions::default()
        };
        self.playground
            .send_message(
                &LlmCaller::session(self.ada.clone()),
                id,
                msg(content, options),
            )
            .await
            .expect("send");
        sent_messages(self)
    }

    async fn stream(&self, id: &ConversationId, content: &str) -> ExchangeStream {
        let message = msg(content, MessageOptions::default());
        let caller = LlmCaller::session(self.ada.clone());
        let stream = self.playground.stream_message(&caller, id, message);
        stream.await.expect("stream")
    }

    /// Ada's usage.
    async fn usage(&self) -> UsageSummary {
        self.playground.usage(&self.ada).await.expect("usage")
    }

    /// The (role, content) of each message stored in ada's conversation.
    async fn stored_messages(&self, id: &ConversationId) -> Vec<(String, String)> {
        let got = self.playground.get_conversation(&self.ada, id).await;
        let messages = got.expect("get").messages;
        messages.into_iter().map(|m| (m.role, m.content)).collect()
    }

    /// Asserts that neither a message nor any usage of ada's is stored.
    async fn assert_nothing_stored(&self, id: &ConversationId) {
        assert!(self.stored_messages(id).await.is_empty(), "messages");
        assert_eq!(self.usage().await, UsageSummary::default(), "usage");
    }
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
    let unknown = f
        .playground
        .create_conversation(
            &LlmCaller::session(f.ada.clone()),
            conv("gpt-9", Some("t"), Some("ok")),
        )
        .await;
    assert_matches!(unknown, Err(PlaygroundError::UnknownModel(ref m)) if m == "gpt-9");
    assert!(f.playground.knows_model("echo-1"));
    assert!(!f.playground.knows_model("gpt-9"));

    let created = f.conversation("echo-1", Some("Be brief.")).await;
    assert_eq!(created.model, "echo-1");
    assert_eq!(created.title.as_deref(), Some("A chat"));
    assert_eq!(created.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!((created.created_at, created.updated_at), (start(), start()));
    let untitled = f
        .playground
        .create_conversation(
            &LlmCaller::session(f.ada.clone()),
            conv("echo-1", None, None),
        )
        .await
        .expect("no title");
    assert_eq!(untitled.title, None);
    assert_eq!(f.playground.models()[0].id, "echo-1");
}

#[tokio::test]
async fn an_echo_exchange_is_stored_with_its_usage() {
    let f = fixture();
    let c = f.conversation("echo-1", Some("Be brief.")).await;
    f.env.clock.advance(TimeDelta::seconds(5));

    let exchange = f.send(&c.id, "hello there").await.expect("send");

    assert_eq!(exchange.assistant_message.content, "hello there");
    assert_eq!(exchange.user_message.role, "user");
    assert_eq!(exchange.assistant_message.role, "assistant");
    assert_eq!(exchange.usage, Tokens::new(4, 2));
    assert_eq!(
        f.stored_messages(&c.id).await,
        [
            pair("user", "hello there"),
            pair("assistant", "hello there")
        ]
    );
    let got = f.playground.get_conversation(&f.ada, &c.id).await;
    let conversation = got.expect("get").conversation;
    assert_eq!(conversation.updated_at, start() + TimeDelta::seconds(5));
    let usage = f.usage().await;
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
    let c = f.conversation("fake-1", Some("You are a pirate.")).await;
    f.send(&c.id, "Ahoy?").await.expect("first");
    let options = MessageOptions {
        temperature: Some(0.2),
        max_tokens: Some(50),
    };

    let second = msg("Where is the gold?", options);
    f.playground
        .send_message(&LlmCaller::session(f.ada.clone()), &c.id, second)
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
    let c = f.conversation("fake-small", Some("Be brief.")).await;
    f.fake.push(Reply::Complete {
        content: "A".into(),
        usage: Some((5, 10)),
    });
    for content in ["one two three", "four five"] {
        f.env.clock.advance(TimeDelta::seconds(1));
        f.send(&c.id, content).await.expect("send");
    }
    c.id
}

/// The (role, content) of each message of the last request upstream.
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

/// What [`two_exchanges`] then `new` sends when only its last exchange fits.
fn last_exchange_then(new: &str) -> [(String, String); 4] {
    [
        pair("system", "Be brief."),
        pair("user", "four five"),
        pair("assistant", "fake: four five"),
        pair("user", new),
    ]
}

#[tokio::test]
async fn each_message_is_stored_with_its_own_token_count() {
    let f = fixture();
    let id = two_exchanges(&f).await;

    let tokens: Vec<i32> = ConversationRepository::messages(&mut f.env.test_db.conn(), &id)
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

    f.send(&id, "six").await.expect("send");

    // Window 40, less "Be brief." (2 + 4) and "six" (1 + 4): 29 for the
    // history. Newest first: "fake: four five" 3 + 4, "four five" 2 + 4,
    // "A" 10 + 4 (22 so far), "one two three" 3 + 4 does not fit. "A"
    // would lead without its question, so it is left out too.
    assert_eq!(sent_messages(&f), last_exchange_then("six"));
}

#[tokio::test]
async fn max_tokens_is_kept_free_in_the_window() {
    let f = fixture();
    let id = two_exchanges(&f).await;
    let send = |content, max_tokens| f.send_keeping_free(&id, content, max_tokens);

    // 29 - 12 = 17 for the history: the last exchange (7 + 6) only.
    assert_eq!(send("six", 12).await, last_exchange_then("six"));
    // 29 - 20 = 9: only the last answer fits, and it is not sent alone.
    assert_eq!(
        send("seven", 20).await,
        [pair("system", "Be brief."), pair("user", "seven")]
    );
}

#[tokio::test]
async fn the_history_may_fill_the_window_to_its_last_token() {
    let f = fixture();
    let id = two_exchanges(&f).await;

    // 29 - 16 = 13 for the history: the last exchange's 7 + 6, exactly.
    let sent = f.send_keeping_free(&id, "six", 16).await;

    assert_eq!(sent, last_exchange_then("six"));
}

#[tokio::test]
async fn a_new_message_longer_than_the_window_is_still_sent_whole() {
    let f = fixture();
    let id = two_exchanges(&f).await;
    let long = "word ".repeat(100);

    f.send(&id, &long).await.expect("send");

    assert_eq!(
        sent_messages(&f),
        [pair("system", "Be brief."), pair("user", &long)]
    );
}

#[tokio::test]
async fn echo_is_sent_no_history_so_its_prompt_does_not_grow() {
    let f = fixture();
    let c = f.conversation("echo-1", Some("Be brief.")).await;
    let mut prompts = Vec::new();
    for _ in 0..3 {
        let exchange = f.send(&c.id, "hello there").await.expect("send");
        prompts.push(exchange.usage.prompt_tokens);
    }

    assert_eq!(prompts, [4, 4, 4], "the system prompt and the new message");
    assert_eq!(f.stored_messages(&c.id).await.len(), 6, "all kept");
}

#[tokio::test]
async fn a_conversation_whose_model_is_gone_gets_a_validation_error() {
    let f = fixture();
    let c = f.conversation("fake-1", None).await;
    let echo_only = service(&f.env, Arc::new(ProviderRegistry::with_echo()));

    let err = echo_only
        .send_message(
            &LlmCaller::session(f.ada.clone()),
            &c.id,
            msg("hi", MessageOptions::default()),
        )
        .await
        .expect_err("model gone");

    assert_eq!(fields(err), ["model"]);
    assert!(f.fake.requests().is_empty());
}

#[tokio::test]
async fn a_failing_or_hanging_provider_stores_nothing() {
    let f = fixture();
    let c = f.conversation("fake-1", None).await;
    f.fake
        .push(Reply::Status(500, "{}".into()))
        .push(Reply::Hang)
        .push(Reply::Raw("{}".into()));

    for _ in 0..3 {
        assert_matches!(f.send(&c.id, "hi").await, Err(PlaygroundError::Provider(_)));
    }

    f.assert_nothing_stored(&c.id).await;
}

#[tokio::test]
async fn a_streamed_exchange_yields_deltas_then_the_stored_exchange() {
    let f = fixture();
    let c = f.conversation("fake-1", None).await;
    f.fake.push(Reply::Stream {
        deltas: vec!["Once ".into(), "upon ".into(), "a time".into()],
        usage: Some((7, 4)),
        end: StreamEnd::Done,
    });

    let stream = f.stream(&c.id, "Tell a story").await;
    let events: Vec<ExchangeEvent> = stream.map(|e| e.expect("event")).collect().await;

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
    assert_eq!(f.stored_messages(&c.id).await.len(), 2);
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_stores_nothing() {
    let f = fixture();
    let c = f.conversation("fake-1", None).await;
    f.fake.push(Reply::Stream {
        deltas: vec!["Once ".into()],
        usage: None,
        end: StreamEnd::Cut,
    });

    let mut stream = f.stream(&c.id, "Tell a story").await;
    assert_eq!(
        stream.next().await.expect("event").expect("delta"),
        ExchangeEvent::Delta("Once ".into())
    );
    assert_matches!(stream.next().await, Some(Err(PlaygroundError::Provider(_))));
    assert!(stream.next().await.is_none());

    f.assert_nothing_stored(&c.id).await;
}

#[tokio::test]
async fn a_conversation_deleted_while_answering_stores_nothing() {
    let f = fixture();
    let c = f.conversation("echo-1", None).await;
    let mut stream = f.stream(&c.id, "one two").await;
    assert_matches!(stream.next().await, Some(Ok(ExchangeEvent::Delta(_))));

    f.playground
        .delete_conversation(&f.ada, &c.id)
        .await
        .expect("delete");
    let rest: Vec<_> = stream.collect().await;

    assert_matches!(rest.last(), Some(Err(PlaygroundError::NotFound)));
    assert_eq!(f.usage().await, UsageSummary::default());
}

#[tokio::test]
async fn messages_at_the_bounds_reach_the_provider() {
    let f = fixture();
    let c = f.conversation("fake-1", None).await;
    let edge = MessageOptions {
        temperature: Some(2.0),
        max_tokens: Some(32_768),
    };
    f.playground
        .send_message(
            &LlmCaller::session(f.ada.clone()),
            &c.id,
            msg(&"é".repeat(100_000), edge),
        )
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
    let c = f.conversation("echo-1", None).await;
    let hi = msg("hi", MessageOptions::default());

    let get = f
        .playground
        .get_conversation(&f.grace, &c.id)
        .await
        .map(drop);
    let send = f
        .playground
        .send_message(&LlmCaller::session(f.grace.clone()), &c.id, hi)
        .await
        .map(drop);
    let delete = f.playground.delete_conversation(&f.grace, &c.id).await;

    for (result, case) in [(get, "get"), (send, "send"), (delete, "delete")] {
        assert_matches!(result, Err(PlaygroundError::NotFound), "{case}:");
    }
    assert!(f.playground.get_conversation(&f.ada, &c.id).await.is_ok());
}

#[tokio::test]
async fn lists_page_newest_first_with_a_cursor_and_validate_it() {
    let f = fixture();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(f.conversation("echo-1", None).await.id);
        f.env.clock.advance(TimeDelta::seconds(1));
    }
    f.playground
        .create_conversation(
            &LlmCaller::session(f.grace.clone()),
            conv("echo-1", None, None),
        )
        .await
        .expect("grace's");
    ids.reverse();
    let list = |user, limit, before: Option<&ConversationId>| {
        f.playground.list_conversations(user, page(limit, before))
    };

    let first = list(&f.ada, Some(2), None).await.expect("page 1");
    let second = list(&f.ada, Some(2), first.next_before.as_ref()).await;
    let second = second.expect("page 2");
    let third = list(&f.ada, Some(2), second.next_before.as_ref()).await;
    let third = third.expect("page 3");
    let all = list(&f.ada, None, None).await.expect("default limit");

    let ids_of = |p: &Page| p.items.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids_of(&first), ids[0..2]);
    assert_eq!(ids_of(&second), ids[2..4]);
    assert_eq!(ids_of(&third), ids[4..5]);
    assert_eq!(third.next_before, None);
    assert_eq!(ids_of(&all), ids);
    assert_eq!(all.next_before, None, "the default limit holds them all");
    let exactly = list(&f.ada, Some(5), None).await.expect("five of five");
    assert_eq!(ids_of(&exactly), ids);
    assert_eq!(exactly.next_before, None, "a full page with nothing after");

    let graces = list(&f.grace, None, None).await.expect("grace");
    let grace_first = graces.items[0].id.clone();
    for before in [
        ConversationId::from(""),
        ConversationId::from("no-such-id"),
        grace_first,
    ] {
        let err = list(&f.ada, None, Some(&before)).await;
        assert_eq!(fields(err.expect_err("invalid")), ["before"]);
    }
}

#[tokio::test]
async fn deleting_a_conversation_keeps_its_usage() {
    let f = fixture();
    let c = f.conversation("echo-1", None).await;
    f.send(&c.id, "one two three").await.expect("send");

    f.playground
        .delete_conversation(&f.ada, &c.id)
        .await
        .expect("delete");

    assert_matches!(
        f.playground.get_conversation(&f.ada, &c.id).await,
        Err(PlaygroundError::NotFound)
    );
    assert_eq!(f.usage().await.total.total_tokens, 6);
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

    let unknown = f
        .playground
        .gateway_complete(&LlmCaller::session(f.ada.clone()), request("gpt-9"))
        .await;
    assert_matches!(unknown, Err(PlaygroundError::UnknownModel(ref m)) if m == "gpt-9");
    let completion = f
        .playground
        .gateway_complete(&LlmCaller::session(f.ada.clone()), request("echo-1"))
        .await
        .expect("echo");
    assert_eq!(completion.content, "count these words");
    let events: Vec<_> = f
        .playground
        .gateway_stream(&LlmCaller::session(f.ada.clone()), request("fake-1"))
        .await
        .expect("stream")
        .collect()
        .await;
    assert_matches!(events.last(), Some(Ok(StreamEvent::Done { .. })));

    let usage = f.usage().await;
    let models: Vec<&str> = usage.by_model.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(models, ["echo-1", "fake-1"]);
    assert_eq!(usage.by_model[0].usage, Tokens::new(3, 3));
}

#[tokio::test]
async fn a_keys_allow_list_narrows_the_models_it_is_shown() {
    let f = fixture();
    let ids = |caller: &LlmCaller| -> Vec<String> {
        f.playground
            .models_for(caller)
            .map(|m| m.id.clone())
            .collect()
    };
    let everything: Vec<String> = f.playground.models().iter().map(|m| m.id.clone()).collect();
    assert_eq!(everything, ["echo-1", "fake-1", "fake-small"]);

    assert_eq!(ids(&LlmCaller::session(f.ada.clone())), everything);
    let narrowed = LlmCaller {
        user: f.ada.clone(),
        key: Some(KeyGrant {
            key_id: "k".into(),
            limits: Arc::new(KeyLimits {
                models: Some(vec!["fake-small".to_owned(), "echo-1".to_owned()]),
                ..KeyLimits::none()
            }),
        }),
    };
    assert_eq!(
        ids(&narrowed),
        ["echo-1", "fake-small"],
        "in the registry's order"
    );
}

#[tokio::test]
async fn a_limited_requests_default_reserve_is_configurable() {
    let f = fixture();
    assert_eq!(
        f.playground.default_reserve(),
        DEFAULT_RESERVED_COMPLETION_TOKENS
    );
    let env = TestEnv::new();
    let registry = Arc::new(ProviderRegistry::with_echo());
    let playground = service(&env, registry).with_default_reserve(7);
    assert_eq!(playground.default_reserve(), 7);
}

#[tokio::test]
async fn a_limited_keys_requests_are_admitted_up_to_its_limit() {
    let f = fixture();
    let grant = f
        .env
        .key_with(KeyLimits {
            requests_per_minute: Some(1),
            ..KeyLimits::none()
        })
        .await;
    let caller = LlmCaller {
        user: f.ada.clone(),
        key: Some(grant),
    };
    let request = || ChatRequest {
        model: "echo-1".into(),
        messages: vec![ChatMessage::new(Role::User, "hello")],
        temperature: None,
        max_tokens: None,
    };

    let first = f.playground.gateway_complete(&caller, request()).await;
    let second = f.playground.gateway_complete(&caller, request()).await;

    assert_eq!(first.expect("the first of the minute").content, "hello");
    assert_matches!(
        second,
        Err(PlaygroundError::Limited(Refusal {
            kind: RefusalKind::RateLimited,
            ..
        }))
    );
}
