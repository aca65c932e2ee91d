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
