//! Whole flows through the HTTP API.

mod api_keys_flow;
mod auth_flow;
mod gateway_flow;
mod health_flow;
mod llm_playground_flow;
