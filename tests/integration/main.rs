//! Whole flows through the HTTP API.

mod api_keys_flow;
mod auth_flow;
mod health_flow;
