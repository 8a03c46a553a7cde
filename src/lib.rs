//! facelite: face liveness and biometry, wire-compatible with the Oz Forensics API, in one
//! static binary for edge appliances.
//!
//! Layout (see `DESIGN.md` in the shared docs): `http` serves and routes, `api` holds one file
//! per resource family and the single error mapping, `accounts` authenticates and scopes every
//! request to a tenant, `store` owns the redb file, `analysis` runs jobs, `vision` runs the face
//! models, `media` turns uploads into frames.

pub mod accounts;
mod alloc;
pub mod analysis;
pub mod api;
pub mod app;
pub mod cli;
pub mod collections;
pub mod config;
pub mod http;
mod libc_mem;
pub mod lite;
pub mod media;
pub mod memory;
pub mod meta_change;
pub mod serve;
pub mod store;
pub mod sweep;
pub mod upload;
pub mod vision;
pub mod webhook;
