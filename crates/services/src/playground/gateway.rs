//! The OpenAI-compatible gateway's calls: the request as the client sent
//! it (no conversation), usage recorded for the key's owner.

use futures_util::stream::{BoxStream, StreamExt};
use promptyard_repositories::UsageRepository;

use super::{PlaygroundError, PlaygroundService, UsageSource};
use crate::limits::{Admission, LlmCaller};
use crate::providers::{ChatRequest, Completion, StreamEvent, Usage};

/// A gateway stream: the provider's events, usage recorded before `Done`.
pub type GatewayStream = BoxStream<'static, Result<StreamEvent, PlaygroundError>>;

impl PlaygroundService {
    /// Records the usage, with the settlement of the key's admission if
    /// there is one, in one transaction.
    async fn record_gateway_usage(
        &self,
        caller: &LlmCaller,
        model: &str,
        usage: Usage,
        admission: Option<Admission>,
    ) -> Result<(), PlaygroundError> {
        let record = self.usage_record(
            &caller.user,
            model,
            UsageSource::Gateway,
            usage,
            self.clock.now().naive_utc(),
        );
        let settlement = admission.as_ref().map(|a| a.settlement(usage));
        self.db
            .write(move |conn| {
                UsageRepository::record(conn, &record)?;
                match &settlement {
                    Some(settlement) => settlement.apply(conn),
                    None => Ok(()),
                }
            })
            .await?;
        if let Some(admission) = admission {
            admission.settled();
        }
        Ok(())
    }

    /// The gateway's chat completion, admitted on the caller's key and its
    /// usage recorded for the caller.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user, model = %request.model))]
    pub async fn gateway_complete(
        &self,
        caller: &LlmCaller,
        request: ChatRequest,
    ) -> Result<Completion, PlaygroundError> {
        let provider = self.provider_for(caller, &request.model)?;
        let mut request = request;
        let mut admission = self.admit(caller, &mut request).await?;
        let model = request.model.clone();
        let completion = provider.complete(request).await?;
        if let Some(admission) = admission.as_mut() {
            admission.answered(completion.usage);
        }
        self.record_gateway_usage(caller, &model, completion.usage, admission)
            .await?;
        Ok(completion)
    }

    /// The gateway's streamed chat completion, admitted on the caller's
    /// key; usage is recorded for the caller when the stream completes,
    /// before `Done` is handed on. A stream that fails or is dropped first
    /// settles what it streamed (nothing streamed: the admission is given
    /// back).
    #[tracing::instrument(skip_all, fields(user_id = %caller.user, model = %request.model))]
    pub async fn gateway_stream(
        &self,
        caller: &LlmCaller,
        request: ChatRequest,
    ) -> Result<GatewayStream, PlaygroundError> {
        let provider = self.provider_for(caller, &request.model)?;
        let mut request = request;
        let mut admission = self.admit(caller, &mut request).await?;
        let model = request.model.clone();
        let upstream = provider.stream(request).await?;
        let (service, caller) = (self.clone(), caller.clone());
        Ok(upstream
            .then(move |event| {
                let (service, caller, model) = (service.clone(), caller.clone(), model.clone());
                // Settled with the usage at `Done`; any other end drops it,
                // settling what was streamed.
                let admission = match &event {
                    Ok(StreamEvent::Done { .. }) | Err(_) => admission.take(),
                    Ok(StreamEvent::Delta(text)) => {
                        if let Some(admission) = admission.as_mut() {
                            admission.streamed(text);
                        }
                        None
                    }
                };
                async move {
                    match event {
                        Ok(StreamEvent::Done {
                            usage,
                            finish_reason,
                        }) => {
                            service
                                .record_gateway_usage(&caller, &model, usage, admission)
                                .await?;
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
