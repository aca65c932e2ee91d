//! The command line: argument definitions and one function per subcommand. This is the binary's edge,
//! so errors here are `anyhow` with context that tells the user what to do.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::drain::{DrainOptions, DrainReport, drain};
use crate::emulator::{bundled_emulator, fixture_key};
use crate::sdk::{FinanceLibrary, KeyRing, NetworkOptions, PrivateKey};
use crate::secret::Secret;

/// msgaudit — pull, decrypt, store and audit WeCom chat archives (会话内容存档).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run the main job end to end on bundled parts: the SDK emulator, test keys, a generated archive.
    Demo(DemoArgs),
    /// Pull a corp's whole archive through a finance SDK library and decrypt every message.
    Drain(DrainArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Messages in the generated archive.
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Seed of the generated archive (same seed, same archive).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// SDK library to load (default: the emulator built beside this binary).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
    /// Decryption threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Path of libWeWorkFinanceSdk_C.so (the vendor's, or the emulator).
    #[arg(long)]
    pub sdk: PathBuf,
    /// The corp id (ww…).
    #[arg(long)]
    pub corp: String,
    /// Environment variable holding the corp's chat-archive secret (never pass secrets as arguments).
    #[arg(long, default_value = "MSGAUDIT_CORP_SECRET")]
    pub secret_env: String,
    /// A private key as VERSION=PATH (PEM, PKCS#1 or PKCS#8); repeat for each publickey_ver.
    #[arg(long = "key", value_name = "VERSION=PATH", required = true)]
    pub keys: Vec<String>,
    /// Start after this seq.
    #[arg(long, default_value_t = 0)]
    pub from_seq: u64,
    /// Messages per GetChatData call (1..=1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Per-call timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Proxy for the SDK (socks5://host:port or http://host:port).
    #[arg(long)]
    pub proxy: Option<String>,
}

/// Sets up `tracing` output to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Commands::Demo(args) => demo(args),
        Commands::Drain(args) => drain_command(args),
    }
}

fn load_key(ring: &mut KeyRing, version: u32, path: &Path) -> anyhow::Result<()> {
    let key = PrivateKey::from_file(path)
        .with_context(|| format!("loading the key of version {version}"))?;
    ring.insert(version, key);
    Ok(())
}

/// Prints progress to stderr: a live line on a terminal, a line per quarter otherwise.
struct Progress {
    total: Option<u64>,
    tty: bool,
    next_quarter: u64,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            next_quarter: 1,
        }
    }

    fn update(&mut self, r: &DrainReport) {
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        let line = format!(
            "pulled {}{of} messages, {} decrypted, {} failed, {:.0} msg/s",
            r.pulled,
            r.decrypted,
            r.failed(),
            r.messages_per_sec()
        );
        if self.tty {
            eprint!("\r{line}   ");
        } else if let Some(total) = self.total.filter(|t| *t > 0) {
            let mut crossed = false;
            while self.next_quarter <= 4 && r.pulled * 4 >= total * self.next_quarter {
                self.next_quarter += 1;
                crossed = true;
            }
            if crossed {
                eprintln!("{line}");
            }
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

fn print_summary(corp: &str, r: &DrainReport) {
    println!("corp {corp}: drained up to seq {}", r.last_seq);
    println!("  messages pulled     {:>10}", r.pulled);
    println!("  decrypted           {:>10}", r.decrypted);
    println!("  could not decrypt   {:>10}", r.failed());
    for (reason, n) in &r.failures {
        println!("    {n:>8}  {reason}");
    }
    println!(
        "  GetChatData calls   {:>10} ({} transient failures retried)",
        r.calls, r.retried
    );
    println!("  elapsed             {:>10.2} s", r.elapsed.as_secs_f64());
    println!("  messages per second {:>10.0}", r.messages_per_sec());
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let sdk_path = match args.sdk {
        Some(p) => p,
        None => bundled_emulator()?,
    };
    let lib = FinanceLibrary::load(&sdk_path)?;
    let mut keys = KeyRing::new();
    for version in [1, 2] {
        load_key(&mut keys, version, &fixture_key(version))?;
    }
    // The emulator reads a corp's archive options from the `?…` suffix of its corp id: a generated
    // archive over key versions 1 and 2, with a few messages of each bad-input class.
    let corp = format!(
        "wwdemo?messages={}&seed={}&missing_key_every=197&corrupt_key_every=211&corrupt_msg_every=223&bad_json_every=227",
        args.messages, args.seed
    );
    let mut session = lib.session(
        &corp,
        &Secret::new("demo-secret"),
        &NetworkOptions::default(),
    )?;
    println!(
        "draining a generated archive of {} messages through {}",
        args.messages,
        sdk_path.display()
    );
    let mut options = DrainOptions::default();
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    let mut progress = Progress::new(Some(args.messages));
    let report = drain(&mut session, &keys, &lib.decryptor(), &options, &mut |r| {
        progress.update(r)
    })?;
    progress.finish();
    print_summary("wwdemo", &report);
    Ok(())
}

fn drain_command(args: DrainArgs) -> anyhow::Result<()> {
    let secret = std::env::var(&args.secret_env)
        .map(Secret::new)
        .with_context(|| {
            format!(
                "set the environment variable {} to the corp's chat-archive secret",
                args.secret_env
            )
        })?;
    let mut keys = KeyRing::new();
    for spec in &args.keys {
        let (version, path) = spec
            .split_once('=')
            .and_then(|(v, p)| Some((v.trim().parse::<u32>().ok()?, p)))
            .with_context(|| {
                format!("--key {spec:?}: expected VERSION=PATH, e.g. --key 1=/etc/msgaudit/v1.pem")
            })?;
        load_key(&mut keys, version, Path::new(path))?;
    }
    let lib = FinanceLibrary::load(&args.sdk)?;
    let network = NetworkOptions {
        proxy: args.proxy.clone(),
        proxy_password: None,
    };
    let mut session = lib.session(&args.corp, &secret, &network)?;
    let options = DrainOptions {
        from_seq: args.from_seq,
        limit: args.limit,
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..DrainOptions::default()
    };
    let mut progress = Progress::new(None);
    let report = drain(&mut session, &keys, &lib.decryptor(), &options, &mut |r| {
        progress.update(r)
    })?;
    progress.finish();
    print_summary(&args.corp, &report);
    Ok(())
}
