//! Users, companies, passwords, sessions, roles and the tenant scope every request runs in.
