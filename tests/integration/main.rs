//! Whole flows through the HTTP API.

mod health_flow;
