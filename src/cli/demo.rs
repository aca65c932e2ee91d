//! `msgaudit demo`: the main job end to end on bundled parts. It writes a small configuration under
//! the data directory (emulator archive options, a demo secret file, the test keys of versions 1 and
//! 2), generates an archive of N good messages plus a few hundred bad ones (a key version nobody
//! holds, corrupt base64, a damaged ciphertext, broken JSON), runs the real pipeline into a fresh
//! SQLite file with the audit rules of `fixtures/rules.json` (the generated text has planted evasions
//! and behaviours), and checks what was stored against what the archive holds.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use wework_finance_archive::{ArchiveOptions, faults};

use super::daemon::run_config;
use super::progress::Style;
use crate::config::Config;
use crate::emulator::{bundled_emulator, fixture_key};
use crate::message::DeadReason;
use crate::runtime::Stats;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Good messages in the generated archive (a few hundred bad ones come on top).
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Seed of the generated archive (same seed, same archive).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory for the demo's database and configuration (recreated).
    #[arg(long, default_value = "msgaudit-data")]
    pub data_dir: PathBuf,
    /// Decrypt+parse threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// SDK library to load (default: the emulator built beside this binary).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
    /// Store to fill instead of DATA_DIR/demo.db, e.g. clickhouse://default@127.0.0.1:8123/msgaudit_demo
    /// (its database must not hold the demo corp yet).
    #[arg(long)]
    pub store: Option<String>,
    /// Post the demo's alerts to this group-robot webhook URL (without it, the demo shows what it
    /// would send).
    #[arg(long)]
    pub webhook: Option<String>,
}

/// Fault periods of the demo archive: primes, so the classes rarely coincide.
const FAULTS: [(&str, u64); 4] = [
    ("missing_key_every", 149),
    ("corrupt_key_every", 151),
    ("corrupt_msg_every", 157),
    ("bad_json_every", 163),
];

fn options(total: u64, seed: u64) -> ArchiveOptions {
    let mut pairs = vec![
        ("messages".to_owned(), total.to_string()),
        ("seed".to_owned(), seed.to_string()),
    ];
    pairs.extend(FAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs.push(("control_chars_every".to_owned(), "97".to_owned()));
    ArchiveOptions::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .unwrap_or_default()
}

/// The archive size that holds exactly `good` readable messages, and its bad count.
fn sized(good: u64, seed: u64) -> (u64, u64) {
    let o = options(u64::MAX, seed);
    let (mut seq, mut ok) = (0, 0);
    while ok < good {
        seq += 1;
        if !faults(&o, seq).unreadable() {
            ok += 1;
        }
    }
    (seq, seq - good)
}

fn write_files(
    dir: &Path,
    total: u64,
    seed: u64,
    sdk: &Path,
    store: &str,
    alerts: bool,
    names_api: &str,
) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        for f in ["demo.db", "demo.db-wal", "demo.db-shm"] {
            let p = dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("removing the old {}", p.display()))?;
            }
        }
        // The old run's spool and media belong to the old database.
        for d in ["demo.spool", "media"] {
            let old = dir.join(d);
            if old.exists() {
                std::fs::remove_dir_all(&old)
                    .with_context(|| format!("removing the old {}", old.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let o = options(total, seed);
    let mut emu = serde_json::Map::new();
    emu.insert("messages".into(), total.into());
    emu.insert("seed".into(), seed.into());
    for (k, _) in FAULTS {
        let v = match k {
            "missing_key_every" => o.missing_key_every,
            "corrupt_key_every" => o.corrupt_key_every,
            "corrupt_msg_every" => o.corrupt_msg_every,
            _ => o.bad_json_every,
        };
        emu.insert(k.into(), v.into());
    }
    emu.insert("control_chars_every".into(), o.control_chars_every.into());
    let emulator_json = serde_json::json!({ "corps": { "wwdemo": emu } });
    std::fs::write(
        dir.join("emulator.json"),
        serde_json::to_string_pretty(&emulator_json)?,
    )?;
    crate::secret::write_private_file(&dir.join("demo-secret"), b"demo-archive-secret\n")?;
    let config = format!(
        "# Written by `msgaudit demo`. With the emulator, set WWEMU_CONFIG={emu} to serve the same archive.\n\
         [store]\nurl = \"{store}\"\n\n[spool]\ndir = \"demo.spool\"\n\n[sdk]\nlibrary = \"{sdk}\"\n\n[pull]\npoll_interval_secs = 1\n\n\
         [alerts]\n{alerts}\n\n\
         # Names come from a local stand-in of WeCom's directory APIs, which `msgaudit demo` runs.\n\
         [names]\napi_base = \"{names_api}\"\n\n\
         [[corps]]\ncorp_id = \"wwdemo\"\nsecret_file = \"demo-secret\"\n\
         # Key version 3 is left out on purpose: add `3 = \"{v3}\"` and run\n\
         # `msgaudit dead-letters retry --config {cfg}` to re-drive those dead letters.\n\
         keys = {{ 1 = \"{v1}\", 2 = \"{v2}\" }}\n",
        emu = dir.join("emulator.json").display(),
        sdk = sdk.display(),
        v1 = fixture_key(1).display(),
        v2 = fixture_key(2).display(),
        v3 = fixture_key(3).display(),
        cfg = dir.join("demo.toml").display(),
        store = store.replace('\\', "\\\\").replace('"', "\\\""),
        alerts = if alerts {
            "# Posts to the robot `msgaudit demo --webhook` added; keep sending up to 20 s after the run.\n\
             drain_secs = 20\nfirst_retry_ms = 1000\nmax_retry_secs = 5\nmax_attempts = 4"
        } else {
            "# No --webhook: alerts stay in the outbox (send_status 0) until a robot is added.\nenabled = false"
        },
    );
    let path = dir.join("demo.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let sdk = match args.sdk {
        Some(p) => p,
        None => bundled_emulator()?,
    };
    let sdk =
        std::fs::canonicalize(&sdk).with_context(|| format!("SDK library {}", sdk.display()))?;
    let (total, bad) = sized(args.messages, args.seed);
    let store_url = args.store.as_deref().unwrap_or("sqlite://demo.db");
    // WeCom's directory for the generated archive, so the names fetcher finds 张三's customers.
    let directory = crate::emulator::directory::DirectoryStandIn::start()
        .context("starting the stand-in of WeCom's directory APIs")?;
    let config_path = write_files(
        &args.data_dir,
        total,
        args.seed,
        &sdk,
        store_url,
        args.webhook.is_some(),
        &directory.base_url(),
    )?;
    // SAFETY (set_var): no other thread exists yet — the pipeline, progress and rayon threads all
    // start later — so nothing can read the environment concurrently.
    unsafe { std::env::set_var("WWEMU_CONFIG", args.data_dir.join("emulator.json")) };
    let mut config = Config::load(&config_path)?;
    crate::timefmt::set_display_zone(config.display_zone.clone());
    config.threads = args.threads;
    let rules_path = crate::emulator::source_dir().join("fixtures/rules.json");
    let rules_text = std::fs::read_to_string(&rules_path)
        .with_context(|| format!("reading {}", rules_path.display()))?;
    let rules = crate::audit::RuleSet::from_json(&rules_text)?;
    let store = crate::store::open(&config.store_url)?;
    if store.checkpoint("wwdemo")?.is_some() || store.count_messages(Some("wwdemo"))? > 0 {
        bail!(
            "the store {} already holds the demo corp `wwdemo`; give the demo a fresh database \
             (e.g. another name after the last /) or drop this one",
            crate::store::redact_url(store_url)
        );
    }
    store.save_rules(&rules)?;
    if let Some(url) = &args.webhook {
        let robot = super::alerts::RobotAddArgs {
            store: super::StoreArgs {
                config: None,
                store: None,
            },
            name: "msgaudit demo".into(),
            url: url.clone(),
            corp: Some("wwdemo".into()),
            strategies: Vec::new(),
            text: false,
        };
        super::alerts::add_robot(store.as_ref(), &robot)?;
    }
    drop(store);
    println!(
        "msgaudit demo: {} good + {bad} bad messages (seqs 1..={total}), key versions 1 and 2, through {}",
        args.messages,
        sdk.display()
    );
    let started = std::time::Instant::now();
    let done = run_config(&config, true, Style::Human { total: Some(total) })?;
    let all_secs = started.elapsed().as_secs_f64();
    let s = &done.stats;
    let stored = done.store.count_messages(Some("wwdemo"))?;
    let secs = done.summary.elapsed.as_secs_f64();
    println!(
        "\nsummary (store {}):",
        crate::store::redact_url(&config.store_url)
    );
    println!("  messages pulled      {:>8}", Stats::get(&s.pulled));
    println!("  messages stored      {stored:>8}");
    println!("  dead letters         {:>8}", s.dead_total());
    for (reason, n) in s.dead_by_reason() {
        println!("    {:<22}{n:>6}  → {}", reason.as_str(), reason.advice());
    }
    let counts = done.store.hit_counts(Some("wwdemo"))?;
    println!(
        "  strategy hits        {:>8}   (rules: {})",
        Stats::get(&s.hits),
        rules_path.display()
    );
    // Names are Chinese: padded by display width so that the counts line up.
    for (id, name, n) in &counts.strategies {
        println!("    {id:>3} {}{n:>6}", super::column(name, 18));
    }
    println!("  behaviour hits       {:>8}", Stats::get(&s.act_hits));
    for (name, n) in &counts.acts {
        println!("        {}{n:>6}", super::column(name, 18));
    }
    let ffmpeg = config
        .media
        .as_ref()
        .map_or("ffmpeg", |m| m.ffmpeg.as_str());
    print_media(&done, &config_path, ffmpeg)?;
    let unnamed = done.store.unnamed_ids("wwdemo", 1000)?.len();
    if unnamed == 0 {
        println!(
            "  names                every customer and group named (WeCom's directory, served by a stand-in)"
        );
    } else {
        println!("  names                {unnamed} customer(s) or group(s) not named yet");
    }
    drop(directory);
    let preview = alert_summary(&done, args.webhook.as_deref(), &rules)?;
    println!(
        "  elapsed              {secs:>8.2} s   (the text; the media was all stored {all_secs:.1} s after the start)"
    );
    println!(
        "  messages per second  {:>8.0}",
        Stats::get(&s.pulled) as f64 / secs.max(1e-3)
    );
    let expected_dead: u64 = DeadReason::ALL
        .iter()
        .map(|r| Stats::get(s.dead_of(*r)))
        .sum();
    if stored != args.messages || expected_dead != bad {
        bail!(
            "expected {} stored and {bad} dead letters, got {stored} and {expected_dead}",
            args.messages
        );
    }
    println!("\nevery good message stored exactly once; every bad one kept as a dead letter.");
    if let Some(preview) = preview {
        println!("{preview}");
    }
    println!(
        "next: msgaudit hits --config {} --strategy 1 --context 2",
        config_path.display()
    );
    println!(
        "      msgaudit messages --config {} --text 发票",
        config_path.display()
    );
    println!(
        "      msgaudit names 华东 --config {}   (people's and groups' ids, for --from and --room)",
        config_path.display()
    );
    println!(
        "      msgaudit dead-letters list --config {}",
        config_path.display()
    );
    println!(
        "      msgaudit media list --config {} --limit 20",
        config_path.display()
    );
    let tokens = workspace_accounts(done.store.as_ref())?;
    println!(
        "\nthe auditors' workspace on the demo data:\n  msgaudit serve --config {}\n  then open http://127.0.0.1:8080/ and sign in",
        config_path.display()
    );
    for (user, role, token) in tokens {
        println!("    as {user:<7} ({role}) with the token {token}");
    }
    Ok(())
}

/// The media archive's part of the summary: files, bytes, what dedup saved, voice made playable
/// (or how, without the config's `ffmpeg`), dead media, QR codes.
fn print_media(
    done: &crate::daemon::Finished,
    config_path: &Path,
    ffmpeg: &str,
) -> anyhow::Result<()> {
    let m = done.store.media_summary()?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "  media files          {:>8}   ({:.1} MiB stored for {} attachments, {:.1} MiB referenced)",
        m.files,
        mib(m.bytes),
        m.done,
        mib(m.job_bytes)
    );
    println!(
        "    saved by dedup     {:>8}   files ({:.1} MiB) not stored twice",
        m.done.saturating_sub(m.files),
        mib(m.job_bytes.saturating_sub(m.bytes))
    );
    if crate::media::Transcoder::locate(ffmpeg).is_ok() {
        println!(
            "    voice playable     {:>8}   (MP3 copies beside the AMR originals)",
            m.playable
        );
    } else {
        println!(
            "    voice playable     {:>8}   (no ffmpeg here: install it, then `msgaudit media playable --config {}`)",
            m.playable,
            config_path.display()
        );
    }
    println!("    dead media         {:>8}", m.dead);
    for (reason, n) in &m.dead_by_reason {
        let advice = crate::store::MediaDeadReason::parse(reason).map_or("", |r| r.advice());
        println!("      {reason:<20}{n:>6}  → {advice}");
    }
    if m.pending > 0 {
        println!(
            "    still pending      {:>8}   (the next run fetches them)",
            m.pending
        );
    }
    println!(
        "  QR-code hits         {:>8}   (发送二维码 in images; corp.example.com is allowed)",
        Stats::get(&done.stats.media.qr_hits)
    );
    Ok(())
}

/// Demo accounts for the workspace: the demo rules' auditor and an administrator, each with a
/// fresh token (printed once; `msgaudit users add` replaces them).
fn workspace_accounts(
    store: &dyn crate::store::Store,
) -> anyhow::Result<Vec<(&'static str, &'static str, String)>> {
    use crate::store::{Account, Role};
    let mut out = Vec::new();
    for (user, role) in [("wangwu", Role::Auditor), ("admin", Role::Admin)] {
        let token = crate::web::auth::random_token();
        if token.is_empty() {
            bail!("the system's random generator failed; no demo accounts made");
        }
        store.save_account(&Account {
            user_name: user.into(),
            we_user_id: user.into(),
            role,
            secret_hash: crate::web::auth::hash_secret(&token)?,
            disabled: false,
            create_time_ms: crate::timefmt::now_ms(),
        })?;
        out.push((user, role.as_str(), token));
    }
    Ok(out)
}

/// Prints what happened to the demo's alerts; without a webhook, returns the post the first of
/// them would make.
fn alert_summary(
    done: &crate::daemon::Finished,
    webhook: Option<&str>,
    rules: &crate::audit::RuleSet,
) -> anyhow::Result<Option<String>> {
    let backlog = done.store.alert_backlog()?;
    match (&done.alerts, webhook) {
        (Some(r), Some(url)) => {
            println!(
                "  alert posts sent     {:>8}   ({} hits, to {}; {} failed, {backlog} hits still waiting)",
                r.posts_sent,
                r.hits_sent,
                crate::wecom::http::redact_query(url),
                r.posts_failed
            );
        }
        _ => {
            println!("  alerts waiting       {backlog:>8}   (no --webhook: nothing was posted)");
            let pending = done.store.pending_alerts(200, &[])?;
            let hits: Vec<_> = pending.into_iter().map(|p| p.hit).collect();
            if !hits.is_empty() {
                // As the sender names them: members by the organisation, customers and groups
                // by the directory.
                let member = |u: &str| {
                    rules
                        .members
                        .iter()
                        .find(|m| m.userid == u)
                        .map(|m| m.name.clone())
                };
                let directory =
                    crate::alert::sender::directory_names(done.store.as_ref(), &hits, |u| {
                        member(u).is_some()
                    })?;
                let names = |u: &str| member(u).or_else(|| directory.get(u).cloned());
                let (post, used) = crate::alert::compose::digest_fitting(
                    &names,
                    &hits,
                    "#demo",
                    crate::alert::compose::Format::Text,
                );
                let used = used.len();
                let mut preview = format!(
                    "\nalerts: with --webhook URL the demo posts them to a group robot; the first \
                     post (a digest of {used} hits) would read:\n"
                );
                for line in post.text.lines() {
                    preview.push_str(&format!("\n    {line}"));
                }
                return Ok(Some(preview));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_gives_exactly_the_good_count() {
        let (total, bad) = sized(1000, 1);
        let o = options(total, 1);
        let good = (1..=total).filter(|s| !faults(&o, *s).unreadable()).count() as u64;
        assert_eq!((good, total - bad), (1000, 1000));
        assert!(bad > 10);
    }
}
