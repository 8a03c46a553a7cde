//! `facelite admin ...`: offline account management on the store file.
//!
//! The server holds the store's lock while it runs; then every subcommand stops with "the
//! store ... is in use by a running facelite server; stop it first" and a non-zero exit.
//! Passwords come from `--password`, from the first line of stdin with `--password-stdin`, or
//! from the environment variable `FACELITE_NEW_PASSWORD` (no interactive prompt, so scripts
//! work).

use std::io::BufRead;
use std::path::PathBuf;

use argh::FromArgs;

use crate::accounts::companies;
use crate::accounts::password;
use crate::accounts::principal::Role;
use crate::accounts::tenant::Scope;
use crate::accounts::users::{self, User, UserDraft, UserFilter};
use crate::config::Config;
use crate::store::Store;

/// Environment variable read for a password when no flag gives one.
pub const PASSWORD_ENV: &str = "FACELITE_NEW_PASSWORD";

/// Offline account management (stop the server first: the store is locked while it runs).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "admin")]
pub struct AdminCmd {
    /// data directory holding facelite.redb (default: the configured one, ./facelite-data;
    /// env FACELITE_DATA_DIR)
    #[argh(option)]
    pub data_dir: Option<PathBuf>,
    #[argh(subcommand)]
    pub action: Action,
}

/// One admin action.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Action {
    CreateCompany(CreateCompany),
    CreateUser(CreateUser),
    ResetPassword(ResetPassword),
    List(List),
}

/// Create a company and print its id.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create-company")]
pub struct CreateCompany {
    /// company name
    #[argh(option)]
    pub name: String,
}

/// Create a user and print its id.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create-user")]
pub struct CreateUser {
    /// login email
    #[argh(option)]
    pub email: String,
    /// ADMIN, OPERATOR, CLIENT (default), CLIENT_ADMIN or CLIENT_OPERATOR
    #[argh(option, default = "String::from(\"CLIENT\")")]
    pub role: String,
    /// company id or exact name (required for the CLIENT roles)
    #[argh(option)]
    pub company: Option<String>,
    /// password (visible in the process list; prefer --password-stdin or FACELITE_NEW_PASSWORD)
    #[argh(option)]
    pub password: Option<String>,
    /// read the password from the first line of stdin
    #[argh(switch)]
    pub password_stdin: bool,
    /// make it a service account (long-lived sessions)
    #[argh(switch)]
    pub service: bool,
    /// first name
    #[argh(option)]
    pub first_name: Option<String>,
    /// last name
    #[argh(option)]
    pub last_name: Option<String>,
}

/// Set a new password for a user (ends the user's sessions).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reset-password")]
pub struct ResetPassword {
    /// login email of the user
    #[argh(option)]
    pub email: String,
    /// new password (prefer --password-stdin or FACELITE_NEW_PASSWORD)
    #[argh(option)]
    pub password: Option<String>,
    /// read the password from the first line of stdin
    #[argh(switch)]
    pub password_stdin: bool,
}

/// List companies and users.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
pub struct List {
    /// print JSON instead of tables
    #[argh(switch)]
    pub json: bool,
}

type CliResult<T> = Result<T, Box<dyn std::error::Error>>;

fn read_password(flag: Option<String>, stdin: bool) -> CliResult<String> {
    let pw = if let Some(p) = flag {
        p
    } else if stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()) {
        p
    } else {
        return Err(format!(
            "no password given: use --password, --password-stdin or the {PASSWORD_ENV} environment variable"
        )
        .into());
    };
    password::validate_new(&pw)?;
    Ok(pw)
}

/// Runs an admin subcommand against the store in `config.server.data_dir`.
pub fn run(cmd: AdminCmd, config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = cmd.data_dir.as_ref().unwrap_or(&config.server.data_dir);
    let store = Store::open_in(data_dir)?;
    let iters = config.auth.pbkdf2_iterations;
    match cmd.action {
        Action::CreateCompany(a) => {
            let c = companies::create(&store, &a.name)?;
            println!("{}", c.company_id);
        }
        Action::CreateUser(a) => {
            let user_type = Role::parse(&a.role).ok_or_else(|| {
                format!(
                    "unknown role {:?}; use ADMIN, OPERATOR, CLIENT, CLIENT_ADMIN or CLIENT_OPERATOR",
                    a.role
                )
            })?;
            let company_id = match &a.company {
                Some(c) => Some(companies::find_by_id_or_name(&store, c)?.company_id),
                None => None,
            };
            let pw = read_password(a.password, a.password_stdin)?;
            let draft = UserDraft {
                email: Some(a.email),
                user_type: Some(user_type),
                company_id: Some(company_id),
                first_name: Some(a.first_name),
                last_name: Some(a.last_name),
                is_service: a.service.then_some(true),
                ..UserDraft::default()
            };
            let hash = password::hash(&pw, iters)?;
            let u = users::create(&store, &Scope::All, &draft, hash, |_| Ok(()))?;
            println!("{}", u.user_id);
        }
        Action::ResetPassword(a) => {
            let pw = read_password(a.password, a.password_stdin)?;
            let hash = password::hash(&pw, iters)?;
            let u = users::reset_password(&store, &a.email, hash)?;
            println!("password of {} reset; their sessions were ended", u.email);
        }
        Action::List(a) => list(&store, a.json)?,
    }
    Ok(())
}

fn list(store: &Store, as_json: bool) -> CliResult<()> {
    let cs = companies::list(store, &Scope::All, None)?;
    let us = users::list(store, &Scope::All, &UserFilter::default())?;
    if as_json {
        let out = serde_json::json!({
            "companies": cs.iter().map(companies::Company::to_json).collect::<Vec<_>>(),
            "users": us.iter().map(User::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("companies ({}):", cs.len());
    for c in &cs {
        println!("  {}  {}", c.company_id, c.name);
    }
    println!("users ({}):", us.len());
    for u in &us {
        let company = u
            .company_id
            .and_then(|id| cs.iter().find(|c| c.company_id == id))
            .map_or("-", |c| c.name.as_str());
        let service = if u.is_service { " service" } else { "" };
        println!(
            "  {}  {:<15} {}  company: {company}{service}",
            u.user_id,
            u.user_type.as_str(),
            u.email
        );
    }
    Ok(())
}
