//! The HTTP side: hyper server, TLS, limits, graceful shutdown, routing, access log.

pub mod router;
