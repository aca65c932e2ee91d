//! `msgaudit serve` (the auditors' workspace) and `msgaudit users …` (its accounts).

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::StoreArgs;
use crate::runtime::Shutdown;
use crate::store::{Account, Role, Store};
use crate::timefmt::{format_ms, now_ms};
use crate::web::auth::{hash_secret, random_token};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (keep it on 127.0.0.1 behind a TLS-terminating proxy).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Sees the hits of the strategies whose audit_user_id is theirs.
    Auditor,
    /// Sees everything and edits strategies.
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum UserCommands {
    /// Add an account (or replace one's role and secret). Without --password-stdin a random token
    /// is made and printed once.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// The sign-in name.
        name: String,
        #[arg(long, value_enum, default_value = "auditor")]
        role: RoleArg,
        /// The WeCom userid strategies name as their auditor (audit_user_id); default: the name.
        #[arg(long)]
        we_user_id: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List(StoreArgs),
    /// Disable an account (a running server ends its sessions within seconds).
    Disable {
        #[command(flatten)]
        store: StoreArgs,
        name: String,
    },
}

fn open(store: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let url = store.url()?;
    Ok(Arc::from(crate::store::open(&url).with_context(|| {
        format!("opening the store {}", crate::store::redact_url(&url))
    })?))
}

pub fn users(command: UserCommands) -> anyhow::Result<()> {
    match command {
        UserCommands::Add {
            store,
            name,
            role,
            we_user_id,
            password_stdin,
        } => {
            if name.trim().is_empty() || name.contains(char::is_whitespace) {
                bail!("the account name `{name}` must be non-empty and without spaces");
            }
            let store = open(&store)?;
            let (secret, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                let line = zeroize::Zeroizing::new(line);
                let password = line.trim_end_matches(['\r', '\n']).to_owned();
                if password.chars().count() < 10 {
                    bail!("the password must have at least 10 characters");
                }
                (zeroize::Zeroizing::new(password), false)
            } else {
                let token = random_token();
                if token.is_empty() {
                    bail!("the system's random generator failed; no token made");
                }
                (zeroize::Zeroizing::new(token), true)
            };
            let existing = store.accounts()?.into_iter().find(|a| a.user_name == name);
            let account = Account {
                user_name: name.clone(),
                we_user_id: we_user_id.unwrap_or_else(|| name.clone()),
                role: match role {
                    RoleArg::Auditor => Role::Auditor,
                    RoleArg::Admin => Role::Admin,
                },
                secret_hash: hash_secret(&secret).context("hashing the secret")?,
                disabled: false,
                create_time_ms: existing.map_or_else(now_ms, |a| a.create_time_ms),
            };
            store.save_account(&account)?;
            println!(
                "account {name} ({}) saved for audit_user_id {}",
                account.role.as_str(),
                account.we_user_id
            );
            if generated {
                println!("sign-in token (shown once, keep it safe): {}", *secret);
            }
        }
        UserCommands::List(store) => {
            let store = open(&store)?;
            let accounts = store.accounts()?;
            if accounts.is_empty() {
                println!("no accounts: add one with `msgaudit users add NAME --role admin`");
            }
            for a in accounts {
                println!(
                    "{:<20} {:<8} audit_user_id={:<16} {}  since {}",
                    a.user_name,
                    a.role.as_str(),
                    a.we_user_id,
                    if a.disabled { "disabled" } else { "active" },
                    format_ms(a.create_time_ms)
                );
            }
        }
        UserCommands::Disable { store, name } => {
            let store = open(&store)?;
            let Some(mut account) = store.accounts()?.into_iter().find(|a| a.user_name == name)
            else {
                bail!("no account {name} (see `msgaudit users list`)");
            };
            account.disabled = true;
            store.save_account(&account)?;
            println!("account {name} disabled");
        }
    }
    Ok(())
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open(&args.store)?;
    if store.accounts()?.is_empty() {
        tracing::warn!("no accounts yet: add one with `msgaudit users add NAME --role admin`");
    }
    let mut bound = crate::web::bind(store, args.listen)?;
    let url = args.store.url()?;
    match super::media::media_store(&args.store, &url) {
        Ok(media) => {
            tracing::info!(media = %media.location(), "serving attachments");
            bound = bound.with_media(std::sync::Arc::from(media));
        }
        Err(e) => tracing::warn!("attachments will not be served: {e:#}"),
    }
    let shutdown = Shutdown::new();
    shutdown
        .install_signal_handlers()
        .context("installing the SIGINT/SIGTERM handlers")?;
    println!("msgaudit workspace on http://{}/", bound.addr);
    tracing::info!(addr = %bound.addr, "workspace serving");
    bound.serve(shutdown)?;
    Ok(())
}
