//! Whole flows through the HTTP API.

mod auth_flow;
mod health_flow;
