//! The systemd unit in `packaging/`: systemd accepts it without a warning, and the commands it runs
//! are ones this msgaudit understands, against a working configuration.

use std::process::Command;

use crate::support::{root, write_config};

/// The unit's `KEY=` command line, split into words.
fn command_line(unit: &str, key: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("the unit has no {key}"));
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_systemd_unit_verifies_and_its_commands_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=40&seed=3", &[1, 2], "");
    let unit = std::fs::read_to_string(root().join("packaging/msgaudit.service")).expect("unit");
    let unit = unit
        .replace("/usr/local/bin/msgaudit", env!("CARGO_BIN_EXE_msgaudit"))
        .replace("/etc/msgaudit/msgaudit.toml", &config.display().to_string());
    let path = dir.path().join("msgaudit.service");
    std::fs::write(&path, &unit).expect("unit");
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is needed to verify the unit ({e}): apt-get install systemd (.ci/run does)")
        });
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    let run = |words: Vec<String>| {
        let out = Command::new(&words[0])
            .args(&words[1..])
            .output()
            .expect("the unit's command runs");
        assert!(
            out.status.success(),
            "{words:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let checked = run(command_line(&unit, "ExecStartPre="));
    assert!(checked.contains("the daemon can start"), "{checked}");
    // The daemon's own command, drained once instead of running until stopped.
    let mut start = command_line(&unit, "ExecStart=");
    start.push("--once".into());
    run(start);
    assert_eq!(
        crate::support::checkpoint(
            &dir.path().join("store.db"),
            &crate::support::corp_id("messages=40&seed=3")
        ),
        40
    );
}

#[test]
fn the_backup_timer_verifies_and_its_service_makes_a_dated_copy_and_prunes_old_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=40&seed=3", &[1, 2], "");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("state dir");
    let read = |name: &str| {
        std::fs::read_to_string(root().join("packaging").join(name))
            .expect("unit")
            .replace("/usr/local/bin/msgaudit", env!("CARGO_BIN_EXE_msgaudit"))
            .replace("/etc/msgaudit/msgaudit.toml", &config.display().to_string())
            .replace("/var/lib/msgaudit", &state.display().to_string())
    };
    let service = read("msgaudit-backup.service");
    for name in ["msgaudit-backup.service", "msgaudit-backup.timer"] {
        std::fs::write(dir.path().join(name), read(name)).expect("unit");
    }
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("msgaudit-backup.timer"))
        .arg(dir.path().join("msgaudit-backup.service"))
        .output()
        .expect("systemd-analyze (apt-get install systemd)");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    // Something to copy, then the service's own commands, as systemd would run them.
    let mut daemon = crate::support::spawn(&config, true);
    assert!(crate::support::wait_exit(&mut daemon, std::time::Duration::from_secs(60)).success());
    let start = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/bin/sh -c '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("ExecStart runs a shell line")
        .replace("%%", "%");
    let old = state.join("backups/msgaudit-2000-01-01.db");
    std::fs::create_dir_all(state.join("backups")).expect("backups");
    std::fs::write(&old, b"an old copy").expect("old copy");
    let old_time = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(old_time))
        .expect("age the old copy");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&start)
        .current_dir(&state)
        .output()
        .expect("the backup command");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prune = command_line(&service, "ExecStartPost=");
    let pruned = Command::new(&prune[0])
        .args(&prune[1..])
        .output()
        .expect("the prune command");
    assert!(pruned.status.success(), "{pruned:?}");
    let copies: Vec<String> = std::fs::read_dir(state.join("backups"))
        .expect("backups")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "today's copy, the 30-day-old one pruned: {copies:?}"
    );
    assert!(
        copies[0].starts_with("msgaudit-20") && copies[0].ends_with(".db"),
        "{copies:?}"
    );
}
