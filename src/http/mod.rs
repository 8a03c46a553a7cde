//! The HTTP side: hyper server, TLS, limits, graceful shutdown, routing, access log.

pub mod body;
pub mod conn;
pub mod router;
pub mod server;
pub mod systemd;
pub mod tls;

pub use server::json_response;
