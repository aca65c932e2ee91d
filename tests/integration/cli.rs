//! The `msgaudit` binary as a user runs it.

use std::process::Command;

use crate::support::emulator_path;

fn msgaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msgaudit"))
}

#[test]
fn demo_drains_a_generated_archive_and_prints_a_summary() {
    let out = msgaudit()
        .args(["demo", "--messages", "1200", "--sdk"])
        .arg(emulator_path())
        .output()
        .expect("run msgaudit demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("messages pulled           1200"),
        "{stdout}"
    );
    assert!(stdout.contains("no key for publickey_ver 3"), "{stdout}");
    assert!(stdout.contains("messages per second"), "{stdout}");
}

#[test]
fn drain_without_the_secret_says_which_variable_to_set() {
    let out = msgaudit()
        .args([
            "drain",
            "--corp",
            "wwx",
            "--key",
            "1=/nonexistent.pem",
            "--secret-env",
            "MSGAUDIT_TEST_UNSET_SECRET",
            "--sdk",
        ])
        .arg(emulator_path())
        .env_remove("MSGAUDIT_TEST_UNSET_SECRET")
        .output()
        .expect("run msgaudit drain");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("set the environment variable MSGAUDIT_TEST_UNSET_SECRET"),
        "{stderr}"
    );
}

#[test]
fn drain_with_a_library_that_is_not_the_sdk_names_it() {
    let out = msgaudit()
        .args(["drain", "--corp", "wwx", "--key"])
        .arg(format!("1={}", crate::support::key_path(1).display()))
        .args(["--sdk", "/nonexistent/libWeWorkFinanceSdk_C.so"])
        .env("MSGAUDIT_CORP_SECRET", "s")
        .output()
        .expect("run msgaudit drain");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/libWeWorkFinanceSdk_C.so does not exist"),
        "{stderr}"
    );
}

#[test]
fn drain_pulls_an_emulated_corp_with_the_secret_from_the_environment() {
    let out = msgaudit()
        .args(["drain", "--corp", "wwcli?messages=300", "--limit", "100"])
        .arg("--key")
        .arg(format!("1={}", crate::support::key_path(1).display()))
        .arg("--key")
        .arg(format!("2={}", crate::support::key_path(2).display()))
        .arg("--sdk")
        .arg(emulator_path())
        .env("MSGAUDIT_CORP_SECRET", "s3cr3t-value")
        .output()
        .expect("run msgaudit drain");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("decrypted                  300"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("s3cr3t-value") && !stderr.contains("s3cr3t-value"),
        "the secret is never printed"
    );
}
