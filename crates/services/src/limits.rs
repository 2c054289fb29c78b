//! Limits and budgets per API key (the contract's "Limits and budgets per
//! API key"): [`KeyLimits`], what a key may spend, and the admission of
//! each LLM request made with a limited key.
//!
//! - **What is limited**: every LLM request authenticated by the key
//!   (playground messages and `/v1/chat/completions`); a session cookie is
//!   never limited by a key ([`LlmCaller::key`] is `None` then).
//! - **Admission before work**: a request reserves one request and its
//!   tokens (the prompt's estimate plus `max_tokens`, or
//!   [`DEFAULT_RESERVED_COMPLETION_TOKENS`] when absent) in ONE `UPDATE` of
//!   the key's row whose `WHERE` holds the limits
//!   ([`ApiKeyRepository::reserve`]), so a burst from any number of server
//!   processes on one database cannot overshoot. The request is then
//!   settled to its real usage in the same transaction that records the
//!   usage; a request that fails or is dropped gives its reservation back
//!   ([`Admission`]'s `Drop`).
//! - **Windows**: per-minute limits count in fixed UTC minutes (a refusal's
//!   `Retry-After` is the rest of the minute); budgets in UTC calendar days
//!   or months ([`BudgetPeriod`]), until the next one starts.
//! - **Meters start with limits**: a key without numeric limits is not
//!   metered (no write per request); `budget_used` counts what the key
//!   settled in the current period while it had limits.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, DurationRound, NaiveDate, TimeDelta, Utc};
use promptyard_repositories::{
    ApiKey, ApiKeyId, ApiKeyRepository, BoxError, Db, KeyLimitColumns, KeyMeter, MeterHold,
    MeterWindow, RepoError, UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::providers::{ChatRequest, Usage, count_tokens};
use crate::validation::FieldError;

/// Most LLM requests per minute a key can be allowed.
pub const REQUESTS_PER_MINUTE_MAX: u64 = 1_000_000;
/// Most tokens per minute a key can be allowed.
pub const TOKENS_PER_MINUTE_MAX: u64 = 100_000_000;
/// The largest token budget.
pub const TOKEN_BUDGET_MAX: u64 = 1_000_000_000_000;
/// Most model ids in an allow-list.
pub const MODELS_MAX: usize = 100;
/// Completion tokens reserved for a request of a limited key that sets no
/// `max_tokens` (configurable: `PROMPTYARD_DEFAULT_RESERVED_TOKENS`).
pub const DEFAULT_RESERVED_COMPLETION_TOKENS: u32 = 1024;
/// Tokens each message adds to a prompt beyond its words, in the
/// reservation's estimate (as in the context window's arithmetic).
const MESSAGE_OVERHEAD_TOKENS: u64 = crate::playground::MESSAGE_OVERHEAD_TOKENS as u64;

/// The calendar period of a token budget, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    Day,
    Month,
}

impl BudgetPeriod {
    /// `"day"` or `"month"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            _ => Err("must be \"day\" or \"month\"".to_owned()),
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The start of the period holding `now`: midnight UTC of its day, or
    /// of the first of its month.
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let day = now.date_naive();
        let first = match self {
            Self::Day => day,
            Self::Month => day.with_day(1).unwrap_or(day),
        };
        first.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// The start of the next period after the one holding `now`.
    pub fn next_start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start(now).date_naive();
        let next = match self {
            Self::Day => start.succ_opt(),
            Self::Month => {
                let (year, month) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                NaiveDate::from_ymd_opt(year, month, 1)
            }
        };
        next.unwrap_or(NaiveDate::MAX)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    }
}

/// What a key may spend; every field `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyLimits {
    /// LLM requests per UTC minute, 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1_000_000, example = 60)]
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt + completion) per UTC minute, 1 to 100,000,000.
    #[schema(minimum = 1, maximum = 100_000_000, example = 100_000)]
    pub tokens_per_minute: Option<u64>,
    /// Tokens per budget period, 1 to 10^12; needs `budget_period`.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64, example = 1_000_000)]
    pub token_budget: Option<u64>,
    /// The UTC calendar period of `token_budget`: set exactly with it.
    pub budget_period: Option<BudgetPeriod>,
    /// The model ids the key may use (each must exist); `null`: every
    /// model.
    #[schema(example = json!(["echo-1"]))]
    pub models: Option<Vec<String>>,
}

/// A whole number from 1 to `max` (a JSON number arrives as `f64`).
pub fn parse_count(value: f64, max: u64) -> Result<u64, String> {
    #[allow(clippy::cast_precision_loss)]
    let top = max as f64;
    if value.fract() == 0.0 && (1.0..=top).contains(&value) {
        // Whole and in range: the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(value as u64)
    } else {
        Err(format!("must be a whole number from 1 to {max}"))
    }
}

impl KeyLimits {
    /// No limit at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether admission meters the key (it has a numeric limit).
    pub fn is_metered(&self) -> bool {
        self.requests_per_minute.is_some()
            || self.tokens_per_minute.is_some()
            || self.token_budget.is_some()
    }

    /// Whether the key may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }

    /// The rules across fields, and each model known (`known`): the limits
    /// as given (a model listed twice kept once), or an error per broken
    /// rule, named `limits.<field>` (`limits.models[i]` by the index given).
    pub fn check(mut self, known: impl Fn(&str) -> bool) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        match (self.token_budget, self.budget_period) {
            (Some(_), None) => errors.push(FieldError::new(
                "limits.budget_period",
                "is required with token_budget (\"day\" or \"month\")",
            )),
            (None, Some(_)) => errors.push(FieldError::new(
                "limits.budget_period",
                "is allowed only with token_budget",
            )),
            _ => {}
        }
        if let Some(models) = &self.models {
            if models.len() > MODELS_MAX {
                errors.push(FieldError::new(
                    "limits.models",
                    format!("must list at most {MODELS_MAX} models"),
                ));
            }
            for (i, model) in models.iter().enumerate() {
                if !known(model) {
                    errors.push(FieldError::new(
                        format!("limits.models[{i}]"),
                        "is not a known model (see GET /api/v1/playground/models)",
                    ));
                }
            }
        }
        if errors.is_empty() {
            if let Some(models) = &mut self.models {
                let mut seen = std::collections::HashSet::new();
                models.retain(|m| seen.insert(m.clone()));
            }
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// As stored on the key's row.
    pub fn to_columns(&self) -> KeyLimitColumns {
        let stored = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        KeyLimitColumns {
            requests_per_minute: stored(self.requests_per_minute),
            tokens_per_minute: stored(self.tokens_per_minute),
            token_budget: stored(self.token_budget),
            budget_period: self.budget_period.map(|p| p.as_str().to_owned()),
            allowed_models: self
                .models
                .as_ref()
                .map(|models| serde_json::to_string(models).unwrap_or_else(|_| "[]".to_owned())),
        }
    }

    /// From the key's row; an error if the row holds what no version of
    /// Promptyard writes.
    pub fn from_columns(columns: &KeyLimitColumns) -> Result<Self, BoxError> {
        let count = |n: Option<i64>| n.map(|n| u64::try_from(n).unwrap_or(0));
        Ok(Self {
            requests_per_minute: count(columns.requests_per_minute),
            tokens_per_minute: count(columns.tokens_per_minute),
            token_budget: count(columns.token_budget),
            budget_period: columns
                .budget_period
                .as_deref()
                .map(BudgetPeriod::parse)
                .transpose()?,
            models: columns
                .allowed_models
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
        })
    }

    /// The windows a request at `now` counts in.
    fn window(&self, now: DateTime<Utc>) -> MeterWindow {
        MeterWindow {
            minute: minute_start(now).naive_utc(),
            period: self
                .budget_period
                .unwrap_or(BudgetPeriod::Day)
                .start(now)
                .naive_utc(),
        }
    }

    /// The tokens settled in the current period, as `budget_used` shows
    /// them: 0 without a budget, or when the meter is of a past period.
    pub fn budget_used(&self, meter: &KeyMeter, now: DateTime<Utc>) -> u64 {
        match self.budget_period {
            Some(period) if self.token_budget.is_some() => {
                // A later start (another process's clock) is current too.
                let current = period.start(now).naive_utc();
                if meter.period_started_at >= Some(current) {
                    u64::try_from(meter.period_used).unwrap_or(0)
                } else {
                    0
                }
            }
            _ => 0,
        }
    }
}

/// The start of the UTC minute holding `now`.
fn minute_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now)
}

/// The key that authenticated an LLM request, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub key_id: ApiKeyId,
    pub limits: Arc<KeyLimits>,
}

/// Who makes an LLM request: the user who pays, and the key that
/// authenticated it, if any (a session is never limited by a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmCaller {
    pub user: UserId,
    pub key: Option<KeyGrant>,
}

impl LlmCaller {
    /// A caller signed in with a session: no key limits apply.
    pub fn session(user: UserId) -> Self {
        Self { user, key: None }
    }

    /// Whether the caller may use `model` (a key's allow-list).
    pub fn allows(&self, model: &str) -> bool {
        self.key.as_ref().is_none_or(|key| key.limits.allows(model))
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// A per-minute limit: 429 `rate_limited`.
    RateLimited,
    /// The period's budget: 429 `insufficient_quota`.
    InsufficientQuota,
}

/// A request the key's limits refused: which, for how long, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Refusal {
    pub kind: RefusalKind,
    /// Until the window (minute or period) that refused it ends.
    pub retry_after: Duration,
    pub detail: String,
}

/// A prompt's estimate in tokens: its words plus
/// [`MESSAGE_OVERHEAD_TOKENS`](crate::playground::MESSAGE_OVERHEAD_TOKENS)
/// per message.
pub fn prompt_estimate(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|m| u64::from(count_tokens(&m.content)) + MESSAGE_OVERHEAD_TOKENS)
        .sum()
}

/// The tokens a request reserves: its [`prompt_estimate`] plus
/// `max_tokens`, or `default_completion` when the request sets none.
pub fn reservation_tokens(request: &ChatRequest, default_completion: u32) -> u64 {
    prompt_estimate(request) + u64::from(request.max_tokens.unwrap_or(default_completion))
}

/// Why a reservation was refused, read from the key's row as it stood.
fn refusal(key: &ApiKey, window: MeterWindow, tokens: u64, now: DateTime<Utc>) -> Refusal {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let meter = &key.meter;
    // A period the row started later than ours (another clock) is current too.
    let period_current = meter.period_started_at >= Some(window.period);
    let (used, reserved) = if period_current {
        (count(meter.period_used), count(meter.period_reserved))
    } else {
        (0, 0)
    };
    // Whole seconds, rounded up: a client that waits that long is past it.
    let until = |at: DateTime<Utc>| {
        let left = (at - now).to_std().unwrap_or_default();
        Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    };
    let budget = key.limits.token_budget.map(count);
    if let Some(budget) = budget
        && used + tokens <= budget
        && used + reserved + tokens > budget
    {
        // Not spent: held by requests still running, which may settle lower.
        return Refusal {
            kind: RefusalKind::RateLimited,
            retry_after: Duration::from_secs(1),
            detail: format!(
                "the rest of the key's token budget is reserved by its requests still running ({used} used, {reserved} reserved of {budget}); retry when they end"
            ),
        };
    }
    if let Some(budget) = budget
        && used + tokens > budget
    {
        let period = key
            .limits
            .budget_period
            .as_deref()
            .and_then(|p| BudgetPeriod::parse(p).ok())
            .unwrap_or(BudgetPeriod::Day);
        let detail = if tokens > budget {
            format!(
                "this request reserves {tokens} tokens, more than the key's whole token_budget of {budget}"
            )
        } else {
            format!(
                "the key's token budget is spent for this {} ({used} used of {budget}, {tokens} needed); it resets at the start of the next one (UTC)",
                period.as_str()
            )
        };
        return Refusal {
            kind: RefusalKind::InsufficientQuota,
            retry_after: until(period.next_start(now)),
            detail,
        };
    }
    let detail = match key.limits.tokens_per_minute.map(count) {
        Some(limit) if tokens > limit => format!(
            "this request reserves {tokens} tokens, more than the key's tokens_per_minute of {limit}; lower max_tokens"
        ),
        _ => "the key's per-minute limit is reached; retry after the current minute".to_owned(),
    };
    Refusal {
        kind: RefusalKind::RateLimited,
        retry_after: until(minute_start(now) + TimeDelta::minutes(1)),
        detail,
    }
}

/// A request admitted on a limited key: its reservation, held until the
/// request ends.
///
/// - Answered and recorded: [`settlement`](Self::settlement) is applied in
///   the transaction that records the usage, then
///   [`settled`](Self::settled).
/// - Dropped before that (the provider failed, the store failed, the
///   client went away, the handler was cancelled), it ends itself in the
///   background: with what it is known to have spent if the provider
///   answered ([`answered`](Self::answered)) or text was streamed
///   ([`streamed`](Self::streamed)), else by giving its request and tokens
///   back.
///
/// It is ended exactly once, whatever was cancelled when: the state the
/// database writes decide by (`Shared`) is written inside those writes,
/// and the background end reads it inside its own write, which runs after
/// them (one writer on SQLite; the write lock on PostgreSQL).
#[derive(Debug)]
pub struct Admission {
    db: Db,
    clock: Arc<dyn Clock>,
    key_id: ApiKeyId,
    limits: Arc<KeyLimits>,
    shared: Arc<Shared>,
    /// The prompt's estimate, counted with streamed text.
    prompt: i64,
    /// What the request is known to have spent so far.
    spent: Option<i64>,
    armed: bool,
}

/// What the writes of an [`Admission`] have decided, written inside them.
#[derive(Debug, Default)]
struct Shared {
    /// The reservation, once the write that made it ran.
    hold: std::sync::Mutex<Option<MeterHold>>,
    /// Whether a write has ended it.
    ended: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// The reservation to end, if one was made and none has ended it; marks
    /// it ended.
    fn take(&self) -> Option<MeterHold> {
        let hold = *self
            .hold
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hold.filter(|_| !self.ended.swap(true, std::sync::atomic::Ordering::SeqCst))
    }
}

/// The statement that settles an [`Admission`], to run inside the write
/// transaction that records the usage.
#[derive(Debug, Clone)]
pub struct Settlement {
    key_id: ApiKeyId,
    shared: Arc<Shared>,
    now: MeterWindow,
    used: i64,
}

impl Settlement {
    /// Replaces the reservation with the real usage (once: a settlement
    /// applied already, or a reservation ended otherwise, is left alone).
    pub fn apply(&self, conn: &mut promptyard_repositories::DbConn) -> Result<(), RepoError> {
        match self.shared.take() {
            Some(hold) => {
                ApiKeyRepository::settle(conn, &self.key_id, &hold, self.now, Some(self.used))
            }
            None => Ok(()),
        }
    }
}

impl Admission {
    /// Reserves `tokens` (of which `prompt` are the prompt's estimate) and
    /// one request on `key` at the clock's now, or says which limit refuses
    /// them. `None` for a key without numeric limits (nothing to meter).
    pub async fn reserve(
        db: &Db,
        clock: &Arc<dyn Clock>,
        key: &KeyGrant,
        prompt: u64,
        tokens: u64,
    ) -> Result<Option<Self>, AdmissionError> {
        if !key.limits.is_metered() {
            return Ok(None);
        }
        let now = clock.now();
        let window = key.limits.window(now);
        let stored = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut admission = Self {
            db: db.clone(),
            clock: Arc::clone(clock),
            key_id: key.key_id.clone(),
            limits: Arc::clone(&key.limits),
            shared: Arc::default(),
            prompt: stored(prompt),
            spent: None,
            // Armed while the write is awaited: if this future is dropped,
            // the background end gives back what the write reserved.
            armed: true,
        };
        let (id, shared, reserved) = (
            key.key_id.clone(),
            Arc::clone(&admission.shared),
            stored(tokens),
        );
        let refused = db
            .write(
                move |conn| match ApiKeyRepository::reserve(conn, &id, window, reserved)? {
                    Some(window) => {
                        *shared
                            .hold
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(MeterHold {
                            window,
                            tokens: reserved,
                        });
                        Ok(None)
                    }
                    // Why, from the row as this transaction sees it.
                    None => ApiKeyRepository::get(conn, &id).map(Some),
                },
            )
            .await;
        match refused {
            Ok(None) => Ok(Some(admission)),
            Ok(Some(row)) => {
                admission.armed = false;
                Err(AdmissionError::Refused(refusal(&row, window, tokens, now)))
            }
            Err(err) => {
                // Not written (or rolled back): nothing to give back.
                admission.armed = false;
                Err(err.into())
            }
        }
    }

    /// The provider answered with `usage`: what the request spent, even if
    /// it is not recorded after all.
    pub fn answered(&mut self, usage: Usage) {
        self.spent = Some(i64::from(usage.total_tokens()));
    }

    /// `text` was streamed to the client: it is spent, with the prompt,
    /// whatever happens to the rest of the stream.
    pub fn streamed(&mut self, text: &str) {
        let so_far = self.spent.unwrap_or(self.prompt);
        self.spent = Some(so_far.saturating_add(i64::from(count_tokens(text))));
    }

    /// The statement that settles this admission to `usage`.
    pub fn settlement(&self, usage: Usage) -> Settlement {
        Settlement {
            key_id: self.key_id.clone(),
            shared: Arc::clone(&self.shared),
            now: self.limits.window(self.clock.now()),
            used: i64::from(usage.total_tokens()),
        }
    }

    /// The settlement was committed: nothing left to end.
    pub fn settled(mut self) {
        self.armed = false;
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (db, id, shared, spent) = (
            self.db.clone(),
            self.key_id.clone(),
            Arc::clone(&self.shared),
            self.spent,
        );
        let now = self.limits.window(self.clock.now());
        let end = async move {
            let ended = db
                .write(move |conn| match shared.take() {
                    Some(hold) => ApiKeyRepository::settle(conn, &id, &hold, now, spent),
                    None => Ok(()),
                })
                .await;
            if let Err(err) = ended {
                tracing::warn!(error = %err, "could not end an API key's reservation");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(end);
            }
            Err(_) => tracing::warn!("no runtime to end an API key's reservation on"),
        }
    }
}

/// Why [`Admission::reserve`] did not admit a request.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[cfg(test)]
mod tests;
