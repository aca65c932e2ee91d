//! `msgaudit check`: the preflight ([`crate::preflight`]) printed as a checklist (or JSON), with
//! an exit status that fails when the daemon would.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::config::Config;
use crate::preflight::{CheckOptions, Finding, Verdict};

/// With more corps than this, the corps that pass are counted rather than listed (unless --all).
const LISTED_CORPS: usize = 20;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file to check (as `msgaudit run` would read it).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Only this corp (repeat for several); the other checks still run.
    #[arg(long = "corp", value_name = "CORP_ID")]
    pub corps: Vec<String>,
    /// Reach nothing over the network: no archive read, no token, no bucket, no etcd.
    #[arg(long)]
    pub offline: bool,
    /// Corps checked against their archives at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub parallel: usize,
    /// List every corp, also those that pass (by default they are counted past 20 corps).
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object instead of the checklist.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config).map_err(|e| {
        anyhow::anyhow!("{e}\nthe configuration does not load, so nothing else was checked")
    })?;
    let options = CheckOptions {
        offline: args.offline,
        corps: args.corps.clone(),
        parallel: args.parallel,
    };
    let corps_note = if config.corps_from_store {
        format!(
            "{} corp(s) in [[corps]], and we_corp_account's (corps_from_store)",
            config.corps.len()
        )
    } else {
        format!("{} corp(s) in [[corps]]", config.corps.len())
    };
    let mut findings = vec![Finding {
        subject: "config".into(),
        verdict: Verdict::Ok,
        detail: format!("{}: valid; {corps_note}", args.config.display()),
        corp: None,
    }];
    let tty = std::io::stderr().is_terminal() && !args.json;
    let progress = |done: usize, total: usize| {
        if tty && total > 1 {
            eprint!("\rchecking corps against their archives: {done}/{total} ");
            if done == total {
                eprint!("\r{:60}\r", "");
            }
        }
    };
    let printer = Printer::new(args.json, args.all);
    printer.print(&findings[0]);
    crate::preflight::check(
        &config,
        &options,
        &mut |f| {
            printer.print(&f);
            findings.push(f);
        },
        &progress,
    );
    let problems = count(&findings, Verdict::Fail);
    let warnings = count(&findings, Verdict::Warn);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "config": args.config.display().to_string(),
                "findings": findings,
                "problems": problems,
                "warnings": warnings,
            })
        );
    } else {
        printer.finish(&findings);
    }
    if problems > 0 {
        anyhow::bail!(
            "{problems} problem(s): fix them and run `msgaudit check --config {}` again",
            args.config.display()
        );
    }
    Ok(())
}

fn count(findings: &[Finding], verdict: Verdict) -> usize {
    findings.iter().filter(|f| f.verdict == verdict).count()
}

/// Prints findings as they come: every one but the corps that pass when they are many.
struct Printer {
    json: bool,
    all: bool,
}

impl Printer {
    fn new(json: bool, all: bool) -> Printer {
        Printer { json, all }
    }

    fn print(&self, f: &Finding) {
        if self.json {
            return;
        }
        // Corps come last, worst first: those without a problem are printed at the end, or
        // counted.
        if quiet_corp(f) && !self.all {
            return;
        }
        println!("{}", line(f));
    }

    fn finish(&self, findings: &[Finding]) {
        let quiet: Vec<&Finding> = findings.iter().filter(|f| quiet_corp(f)).collect();
        if !self.all {
            if quiet.len() <= LISTED_CORPS {
                for f in &quiet {
                    println!("{}", line(f));
                }
            } else {
                for verdict in [Verdict::Ok, Verdict::Skipped] {
                    let n = quiet.iter().filter(|f| f.verdict == verdict).count();
                    if n == 0 {
                        continue;
                    }
                    let what = if verdict == Verdict::Ok {
                        "corps pass"
                    } else {
                        "corps' archives not read (--offline)"
                    };
                    let detail = format!("{n} {what}; --all lists each, --corp ID shows one");
                    println!(
                        "{}",
                        line(&Finding {
                            subject: "corps".into(),
                            verdict,
                            detail,
                            corp: None,
                        })
                    );
                }
            }
        }
        let problems = count(findings, Verdict::Fail);
        let warnings = count(findings, Verdict::Warn);
        let unchecked = count(findings, Verdict::Skipped);
        println!(
            "{}",
            match (problems, warnings, unchecked) {
                (0, 0, 0) => "all good: the daemon can start with this configuration".to_owned(),
                (0, w, u) => format!(
                    "no problem, {w} warning(s), {u} part(s) not checked (skip): the daemon can start"
                ),
                (p, w, _) => format!("{p} problem(s), {w} warning(s)"),
            }
        );
    }
}

/// A corp's finding without a problem (it passed, or was not reached): counted when many.
fn quiet_corp(f: &Finding) -> bool {
    f.corp.is_some() && matches!(f.verdict, Verdict::Ok | Verdict::Skipped)
}

/// `ok    store            sqlite://…: schema 11, current`.
fn line(f: &Finding) -> String {
    format!(
        "{:<5} {} {}",
        f.verdict.word(),
        super::column(&f.subject, 24),
        f.detail
    )
}
