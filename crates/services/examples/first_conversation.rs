//! A first conversation through the services alone, with no HTTP: open a
//! database (a temp file unless a path is given), register a user, start a
//! conversation with the built-in `echo-1` model, send a message and read
//! the usage.
//!
//! ```sh
//! cargo run -p promptyard-services --example first_conversation [-- promptyard.db]
//! ```

use std::error::Error;
use std::sync::Arc;

use promptyard_services::playground::{MessageContent, Title};
use promptyard_services::{
    AuthConfig, AuthService, Clock, Credentials, Db, DbConfig, IdGenerator, LlmCaller,
    NewConversation, NewMessage, PasswordHasher, PlaygroundService, ProviderRegistry, Sampling,
    SystemClock, UuidV7Ids,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        dir.path()
            .join("promptyard.db")
            .to_string_lossy()
            .into_owned()
    });
    let db = Db::open(DbConfig::new(&path))?;
    db.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Ids);

    let auth = AuthService::new(
        db.clone(),
        PasswordHasher::new()?,
        Arc::clone(&clock),
        Arc::clone(&ids),
        AuthConfig::default(),
    );
    let email = format!("ada+{}@example.com", ids.new_id());
    let user = auth
        .register(Credentials {
            email: &email,
            password: "correct horse battery",
        })
        .await?;
    println!("registered {} ({})", user.email, user.id);
    // Signed in as a user (not with an API key): no key limits apply.
    let caller = LlmCaller::session(user.id.clone());

    let playground =
        PlaygroundService::new(db, clock, ids, Arc::new(ProviderRegistry::with_echo()));
    let conversation = playground
        .create_conversation(
            &caller,
            NewConversation {
                model: "echo-1".to_owned(),
                title: Some(Title::parse("A first conversation")?),
                system_prompt: None,
            },
        )
        .await?;
    println!(
        "started conversation {} with {}",
        conversation.id, conversation.model
    );

    let exchange = playground
        .send_message(
            &caller,
            &conversation.id,
            NewMessage {
                content: MessageContent::parse("Hello, echo!")?,
                sampling: Sampling::default(),
            },
        )
        .await?;
    println!("you:  {}", exchange.user_message.content);
    println!("echo: {}", exchange.assistant_message.content);
    assert_eq!(exchange.assistant_message.content, "Hello, echo!");

    let usage = playground.usage(&user.id).await?;
    println!(
        "usage: {} prompt + {} completion = {} tokens",
        usage.total.prompt_tokens, usage.total.completion_tokens, usage.total.total_tokens
    );
    assert_eq!(usage.total, exchange.usage);
    Ok(())
}
