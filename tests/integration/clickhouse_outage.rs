//! ClickHouse stopped for two minutes in the middle of a 100,000-message run: the daemon keeps
//! retrying the store while pulling goes on into the spool (the whole archive is pulled during the
//! outage), `/metrics` shows the lag and the spool rise while the store is away and fall once it is
//! back, and every message ends up stored exactly once.
//!
//! `MSGAUDIT_OUTAGE_SECS` (default 120) and `MSGAUDIT_OUTAGE_MESSAGES` (default 100,000) change the
//! run.

use std::time::{Duration, Instant};

use msgaudit::store::clickhouse::{ClickHouseUrl, Connection};

use crate::clickhouse_cluster::Server;
use crate::support::{emulator_path, free_port, key_path, spawn, wait_exit, wait_until};

fn metric(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET /metrics HTTP/1.1\r\nconnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Totals {
    rows: u64,
    distinct: u64,
}

#[test]
fn clickhouse_stopped_mid_run_delays_storage_and_loses_nothing() {
    let outage = Duration::from_secs(
        std::env::var("MSGAUDIT_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    );
    let messages: u64 = std::env::var("MSGAUDIT_OUTAGE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = Server::start(free_port(), free_port(), "<yandex></yandex>");
    let metrics_port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("secret"), "outage-secret\n").expect("secret");
    // The archive ends a minute ago (1.5 s a message), so lag in seconds means something.
    let now = msgaudit::timefmt::now_ms() as u64;
    let start_ms = now - messages * 1_500 - 60_000;
    let corp = format!("wwoutage?messages={messages}&seed=3&start_ms={start_ms}&delay_ms=5");
    let config = dir.path().join("msgaudit.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{}\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n\
             [pull]\nbatch_limit = 1000\nmax_backoff_secs = 2\npoll_interval_secs = 1\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[media]\nenabled = false\n\
             [[corps]]\ncorp_id = \"{corp}\"\nsecret_file = \"secret\"\n\
             keys = {{ 1 = \"{}\", 2 = \"{}\" }}\n",
            server.url(),
            emulator_path().display(),
            key_path(1).display(),
            key_path(2).display()
        ),
    )
    .expect("config");
    let stored = || metric(metrics_port, "msgaudit_corp_stored_seq{").unwrap_or(0.0) as u64;
    let pulled = || metric(metrics_port, "msgaudit_corp_pulled_seq{").unwrap_or(0.0) as u64;
    let spooled = || metric(metrics_port, "msgaudit_spool_bytes ").unwrap_or(0.0);
    // How old the newest stored message is: it grows while nothing can be stored.
    let lag = || metric(metrics_port, "msgaudit_corp_newest_stored_age_seconds{").unwrap_or(0.0);
    // How old the oldest unpulled message is: with the spool taking the batches the corp stays
    // caught up with the archive, so nothing is at risk from WeCom's retention.
    let unpulled = || metric(metrics_port, "msgaudit_corp_lag_seconds{").unwrap_or(-1.0);
    let mut child = spawn(&config, false);
    wait_until("a tenth stored", Duration::from_secs(120), || {
        stored() >= messages / 10
    });

    server.stop();
    let at_stop = stored();
    let lag_at_stop = lag();
    let stopped = Instant::now();
    let mut peak_lag = lag_at_stop;
    let mut peak_spool: f64 = 0.0;
    while stopped.elapsed() < outage {
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(
            stored(),
            at_stop,
            "nothing can be stored while the server is down"
        );
        peak_lag = peak_lag.max(lag());
        peak_spool = peak_spool.max(spooled());
    }
    let pulled_in_outage = pulled();
    assert_eq!(
        pulled_in_outage, messages,
        "pulling went on into the spool while the store was away"
    );
    assert!(peak_spool > 0.0, "the spool held the batches");
    let retries = metric(metrics_port, "msgaudit_store_retries_total").unwrap_or(0.0);
    assert!(retries >= 1.0, "the outage was reported as failed attempts");
    assert!(
        peak_lag >= lag_at_stop + outage.as_secs_f64() * 0.9,
        "the stored messages aged while the store was away: {lag_at_stop} → {peak_lag}"
    );
    let unpulled_age = unpulled();
    assert!(
        (0.0..10.0).contains(&unpulled_age),
        "everything was pulled into the spool: the corp is not behind the archive ({unpulled_age} s)"
    );

    server.resume();
    wait_until(
        "everything stored after the outage",
        Duration::from_secs(600),
        || stored() == messages,
    );
    let final_lag = lag();
    wait_until("the spool drained", Duration::from_secs(30), || {
        spooled() == 0.0
    });
    assert!(
        final_lag < peak_lag && final_lag < 600.0,
        "the lag fell once the store was back: peak {peak_lag}, now {final_lag}"
    );
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());

    let conn = Connection::new(ClickHouseUrl::parse(&server.url()).expect("url")).expect("conn");
    let totals: Totals = conn
        .fetch_one(
            "counting",
            "SELECT count() AS rows, uniqExact(msg_id) AS distinct FROM we_chat_contact_msg",
        )
        .expect("totals");
    assert_eq!(
        (totals.rows, totals.distinct),
        (messages, messages),
        "every message stored exactly once"
    );
    eprintln!(
        "ClickHouse outage: {messages} messages, stopped {}s at {at_stop} stored, all {pulled_in_outage} \
         pulled meanwhile ({:.1} MiB spooled at the peak), {retries} retries, lag {lag_at_stop:.0}s → \
         {peak_lag:.0}s → {final_lag:.0}s",
        outage.as_secs(),
        peak_spool / 1_048_576.0
    );
}
