//! The OpenAI-compatible gateway's calls: the request as the client sent
//! it (no conversation), usage recorded for the key's owner.

use futures_util::stream::{BoxStream, StreamExt};
use promptyard_repositories::{UsageRepository, UserId};

use super::{PlaygroundError, PlaygroundService, UsageSource};
use crate::providers::{ChatRequest, Completion, StreamEvent, Usage};

/// A gateway stream: the provider's events, usage recorded before `Done`.
pub type GatewayStream = BoxStream<'static, Result<StreamEvent, PlaygroundError>>;

impl PlaygroundService {
    async fn record_gateway_usage(
        &self,
        user: &UserId,
        model: &str,
        usage: Usage,
    ) -> Result<(), PlaygroundError> {
        let record = self.usage_record(
            user,
            model,
            UsageSource::Gateway,
            usage,
            self.clock.now().naive_utc(),
        );
        self.db
            .write(move |conn| UsageRepository::record(conn, &record))
            .await?;
        Ok(())
    }

    /// The gateway's chat completion, usage recorded for `user`.
    #[tracing::instrument(skip_all, fields(user_id = %user, model = %request.model))]
    pub async fn gateway_complete(
        &self,
        user: &UserId,
        request: ChatRequest,
    ) -> Result<Completion, PlaygroundError> {
        let provider = self.provider_for(&request.model)?;
        let model = request.model.clone();
        let completion = provider.complete(request).await?;
        self.record_gateway_usage(user, &model, completion.usage)
            .await?;
        Ok(completion)
    }

    /// The gateway's streamed chat completion; usage is recorded for `user`
    /// when the stream completes, before `Done` is handed on.
    #[tracing::instrument(skip_all, fields(user_id = %user, model = %request.model))]
    pub async fn gateway_stream(
        &self,
        user: &UserId,
        request: ChatRequest,
    ) -> Result<GatewayStream, PlaygroundError> {
        let provider = self.provider_for(&request.model)?;
        let model = request.model.clone();
        let upstream = provider.stream(request).await?;
        let (service, user) = (self.clone(), user.clone());
        Ok(upstream
            .then(move |event| {
                let (service, user, model) = (service.clone(), user.clone(), model.clone());
                async move {
                    match event {
                        Ok(StreamEvent::Done {
                            usage,
                            finish_reason,
                        }) => {
                            service.record_gateway_usage(&user, &model, usage).await?;
                            Ok(StreamEvent::Done {
                                usage,
                                finish_reason,
                            })
                        }
                        Ok(delta) => Ok(delta),
                        Err(err) => Err(PlaygroundError::Provider(err)),
                    }
                }
            })
            .boxed())
    }
}
