//! Collections (the 1:N "blacklist"): collections of persons, their images and templates, and
//! the in-memory exact search over them.

pub mod search;
