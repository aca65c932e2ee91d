//! `msgaudit robots …` (the group robots alerts go to, and a test post to them) and `msgaudit
//! alerts` (the outbox: how many alerts wait, and the recent posts with their state; and a test
//! message from each corp's alert app to its auditors).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::StoreArgs;
use crate::alert::channel::Channels;
use crate::alert::{PostQuery, PostStatus, Robot, probe};
use crate::config::Config;
use crate::timefmt::{format_ms, now_ms};
use crate::wecom::http::{WeComHttp, redact_query};

#[derive(Debug, Subcommand)]
pub enum RobotCommands {
    /// Add a group robot: alerts of the strategies it covers are posted to its webhook.
    Add(RobotAddArgs),
    /// List the robots (webhook keys hidden).
    List(StoreArgs),
    /// Post a test message to robots (every one, or those named), to know their webhooks work
    /// before a hit needs them; the outbox is left alone.
    Test {
        #[command(flatten)]
        store: StoreArgs,
        /// The robots' ids, as `robots list` shows them (default: every robot).
        ids: Vec<i64>,
        /// Seconds to wait for each webhook's answer.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Remove a robot (its past posts stay).
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// The robot's id, as `robots list` shows it.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct RobotAddArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The group's name (for people).
    #[arg(long)]
    pub name: String,
    /// The robot's webhook URL: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
    #[arg(long)]
    pub url: String,
    /// Only alerts of this corp (default: every corp).
    #[arg(long)]
    pub corp: Option<String>,
    /// Only alerts of this strategy id (repeat for several; default: every strategy).
    #[arg(long = "strategy")]
    pub strategies: Vec<i64>,
    /// Post plain text (with @mentions of the auditors) instead of markdown.
    #[arg(long)]
    pub text: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Sent,
    Failed,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertCommands>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only posts in this state.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// How many recent posts to show.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum AlertCommands {
    /// Send a test application message from each corp's alert app to its auditors, to know the
    /// app reaches them before a hit needs it; the outbox is left alone.
    TestApp(TestAppArgs),
}

#[derive(Debug, Args)]
pub struct TestAppArgs {
    /// The configuration whose corps' `alert_app` to use (as `msgaudit run` would read it).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Only this corp (repeat for several; default: every corp with an alert_app).
    #[arg(long = "corp", value_name = "CORP_ID")]
    pub corps: Vec<String>,
    /// Who gets the test message, by WeCom userid (repeat for several; default: the auditor of
    /// every enabled, alerting strategy, as its hits' app messages go to them).
    #[arg(long = "to", value_name = "USERID")]
    pub to: Vec<String>,
    /// Seconds to wait for each answer from WeCom.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Adds a robot, checking its URL first.
pub fn add_robot(store: &dyn crate::store::Store, args: &RobotAddArgs) -> anyhow::Result<i64> {
    if !(args.url.starts_with("https://") || args.url.starts_with("http://")) {
        bail!(
            "--url {} is not a webhook URL; copy it from the group's robot settings \
             (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)",
            redact_query(&args.url)
        );
    }
    let robot = Robot {
        id: 0,
        group_name: args.name.clone(),
        web_hook_url: args.url.clone(),
        corp_id: args.corp.clone().unwrap_or_default(),
        strategy_ids: args.strategies.clone(),
        msg_type: if args.text { "text" } else { "markdown" }.into(),
    };
    Ok(store.add_robot(&robot)?)
}

pub fn robots(command: RobotCommands) -> anyhow::Result<()> {
    match command {
        RobotCommands::Add(args) => {
            let store = crate::store::open(&args.store.url()?)?;
            let id = add_robot(store.as_ref(), &args)?;
            println!(
                "robot {id} ({}) added: {}; a running daemon uses it within seconds",
                args.name,
                redact_query(&args.url)
            );
            println!("post a test message to its group: msgaudit robots test {id}");
        }
        RobotCommands::List(store) => {
            let store = crate::store::open(&store.url()?)?;
            let robots = store.robots()?;
            if robots.is_empty() {
                println!("no robots: add one with `msgaudit robots add --name … --url …`");
            }
            for r in robots {
                let strategies = if r.strategy_ids.is_empty() {
                    "all".to_owned()
                } else {
                    r.strategy_ids
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                println!(
                    "{:>4}  {}  {}  corp={}  strategies={}  {}",
                    r.id,
                    r.group_name,
                    redact_query(&r.web_hook_url),
                    if r.corp_id.is_empty() {
                        "all"
                    } else {
                        &r.corp_id
                    },
                    strategies,
                    r.msg_type
                );
            }
        }
        RobotCommands::Test {
            store,
            ids,
            timeout,
        } => test_robots(&store, &ids, Duration::from_secs(timeout.max(1)))?,
        RobotCommands::Remove { store, id } => {
            let store = crate::store::open(&store.url()?)?;
            store
                .remove_robot(id)
                .with_context(|| format!("removing robot {id} (see `msgaudit robots list`)"))?;
            println!("robot {id} removed");
        }
    }
    Ok(())
}

/// Posts a test message to each robot `ids` names (every robot when empty); fails when any post
/// did, after trying them all.
fn test_robots(store: &StoreArgs, ids: &[i64], timeout: Duration) -> anyhow::Result<()> {
    let store = store.open_existing()?;
    let robots = store.robots()?;
    if let Some(missing) = ids.iter().find(|id| !robots.iter().any(|r| r.id == **id)) {
        bail!("there is no robot {missing}: `msgaudit robots list` shows their ids");
    }
    let chosen: Vec<&Robot> = robots
        .iter()
        .filter(|r| ids.is_empty() || ids.contains(&r.id))
        .collect();
    if chosen.is_empty() {
        println!("no robots: add one with `msgaudit robots add --name … --url …`");
        return Ok(());
    }
    let http = WeComHttp::new(timeout).context("starting the HTTP client")?;
    let host = crate::config::host_name();
    let mut failed = 0;
    for robot in &chosen {
        let shown = format!(
            "robot {} ({}) {}",
            robot.id,
            robot.group_name,
            redact_query(&robot.web_hook_url)
        );
        match probe::post(&http, robot, &host, now_ms()) {
            Ok(()) => println!("{shown}: delivered; the group shows a test message"),
            Err(e) => {
                failed += 1;
                println!("{shown}: FAILED: {e}\n    {}", probe::advice(&e));
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} robot(s) did not take the test message",
            chosen.len()
        );
    }
    Ok(())
}

/// The people an app test goes to: those named, or every enabled, alerting strategy's auditor
/// (userid, name).
fn app_test_recipients(config: &Config, to: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    if !to.is_empty() {
        return Ok(to.iter().map(|u| (u.clone(), String::new())).collect());
    }
    let store = crate::store::open_existing(&config.store_url).with_context(|| {
        format!(
            "opening the store {} for the strategies' auditors (or name them with --to USERID)",
            crate::store::redact_url(&config.store_url)
        )
    })?;
    let mut auditors: Vec<(String, String)> = Vec::new();
    let alerting = store
        .load_rules()?
        .strategies
        .into_iter()
        .filter(|s| s.enabled && s.alert && !s.audit_user_id.is_empty());
    for s in alerting {
        if !auditors.iter().any(|(id, _)| *id == s.audit_user_id) {
            auditors.push((s.audit_user_id, s.audit_user_name));
        }
    }
    if auditors.is_empty() {
        bail!(
            "no enabled, alerting strategy names an auditor, so no one gets app messages yet; \
             name who should get the test message with --to USERID"
        );
    }
    Ok(auditors)
}

fn test_app(args: &TestAppArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let apps = crate::config::alert_apps(&config.corps);
    if let Some(missing) = args.corps.iter().find(|c| !apps.contains_key(*c)) {
        bail!(
            "corp {missing} has no alert_app in {}: give its [[corps]] an \
             alert_app = {{ agent_id = …, secret_file = … }}",
            args.config.display()
        );
    }
    let mut corps: Vec<(&String, i64)> = apps
        .iter()
        .filter(|(corp, _)| args.corps.is_empty() || args.corps.contains(corp))
        .map(|(corp, app)| (corp, app.agent_id))
        .collect();
    corps.sort();
    if corps.is_empty() {
        println!(
            "no corp in {} has an alert_app: auditors get alerts from group robots only",
            args.config.display()
        );
        return Ok(());
    }
    let recipients = app_test_recipients(&config, &args.to)?;
    let http = WeComHttp::new(Duration::from_secs(args.timeout.max(1)))
        .context("starting the HTTP client")?;
    let mut channels = Channels::new(
        http,
        &config.alerts.settings.api_base,
        crate::runtime::Shared::new(apps.clone()),
    );
    let host = crate::config::host_name();
    let (mut failed, mut tried) = (0, 0);
    for (corp, agent_id) in corps {
        let shown = format!("corp {corp} app {agent_id}");
        if let Err(e) = channels.app_token(corp) {
            println!(
                "{shown}: FAILED: no access token: {e}\n    {}",
                probe::app_advice(&e)
            );
            failed += recipients.len();
            tried += recipients.len();
            continue;
        }
        for (user, name) in &recipients {
            tried += 1;
            let who = if name.is_empty() {
                user.clone()
            } else {
                format!("{user} ({name})")
            };
            match probe::send_app(&mut channels, corp, agent_id, user, &host, now_ms()) {
                Ok(()) => {
                    println!("{shown} → {who}: delivered; they see a test message from the app")
                }
                Err(e) => {
                    failed += 1;
                    println!(
                        "{shown} → {who}: FAILED: {e}\n    {}",
                        probe::app_advice(&e)
                    );
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {tried} test message(s) did not reach their auditor");
    }
    Ok(())
}

pub fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    if let Some(AlertCommands::TestApp(test)) = &args.command {
        return test_app(test);
    }
    let store = args.store.open_existing()?;
    let backlog = store.alert_backlog()?;
    let status = args.status.map(|s| match s {
        StatusArg::Pending => PostStatus::Pending,
        StatusArg::Sent => PostStatus::Sent,
        StatusArg::Failed => PostStatus::Failed,
    });
    let posts = store.posts(&PostQuery {
        status,
        limit: args.limit.max(1),
        ..PostQuery::default()
    })?;
    println!("alerts waiting in the outbox: {backlog}");
    if posts.is_empty() {
        println!("no posts yet");
    }
    for p in posts {
        let when = if p.send_time_ms > 0 {
            format_ms(p.send_time_ms)
        } else {
            format_ms(p.create_time_ms)
        };
        println!(
            "#{:016x}  {}  {:<7}  {:<22}  {} hit(s)  {} attempt(s){}",
            p.id,
            when,
            p.status.name(),
            p.destination.key(),
            p.hits.len(),
            p.attempts,
            if p.last_error.is_empty() {
                String::new()
            } else {
                format!("  last error: {}", p.last_error)
            }
        );
    }
    Ok(())
}
