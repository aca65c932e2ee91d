//! The configuration's validation, section by section, and the shipped example files.

mod validation {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = crate::emulator::source_dir().join("fixtures/keys");
        let text = text.replace("KEYS", &keys.display().to_string());
        let path = dir.path().join("msgaudit.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path)
    }

    const GOOD: &str = r#"
        [sdk]
        library = "lib/libWeWorkFinanceSdk_C.so"
        [[corps]]
        corp_id = "ww1"
        secret_env = "PATH"
        keys = { 1 = "KEYS/v1_private.pem", 2 = "KEYS/v2_private.pem" }
    "#;

    #[test]
    fn a_minimal_config_validates_with_defaults() {
        let c = load(GOOD).expect("valid");
        assert!(
            c.sdk.library.ends_with("lib/libWeWorkFinanceSdk_C.so") && c.sdk.library.is_absolute()
        );
        assert!(
            c.store_url.starts_with("sqlite:///")
                && c.store_url.ends_with("msgaudit-data/msgaudit.db")
        );
        assert_eq!(c.pull.min_call_interval, Duration::from_millis(100));
        let spool = c.spool.as_ref().expect("spool on by default");
        assert!(
            spool.dir.ends_with("msgaudit-data/msgaudit.spool"),
            "{spool:?}"
        );
        assert_eq!(spool.max_bytes, 2048 << 20);
        assert_eq!(c.corps[0].keys.versions().collect::<Vec<_>>(), [1, 2]);
        assert!(
            !format!("{c:?}").contains(&std::env::var("PATH").expect("PATH")),
            "secret in Debug"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (GOOD.replace("[sdk]", "[sdk]\nlibary = \"x\""), "libary"),
            (
                GOOD.replace(
                    "secret_env = \"PATH\"",
                    "secret_env = \"MSGAUDIT_SURELY_UNSET\"",
                ),
                "corps[0].secret_env",
            ),
            (
                GOOD.replace("secret_env = \"PATH\"", ""),
                "secret_env or secret_file",
            ),
            (
                GOOD.replace("v2_private.pem", "missing.pem"),
                "corps[0].keys.2",
            ),
            (GOOD.replace("1 = ", "one = "), "key versions are numbers"),
            (
                format!("[pull]\nbatch_limit = 1001\n{GOOD}"),
                "pull.batch_limit",
            ),
            (
                format!("[alerts]\nmax_posts_per_minute = 0\n{GOOD}"),
                "alerts.max_posts_per_minute",
            ),
            (
                format!("[alerts]\nmax_posts_per_minute = 4294967296\n{GOOD}"),
                "between 1 and 10000",
            ),
            (
                format!("[alerts]\napi_base = \"qyapi\"\n{GOOD}"),
                "alerts.api_base",
            ),
            (format!("[spool]\nmax_mb = 0\n{GOOD}"), "spool.max_mb"),
            (format!("[spool]\nmax_bytes = 5\n{GOOD}"), "max_bytes"),
            (
                format!(
                    "{GOOD}\nalert_app = {{ agent_id = 1, secret_env = \"MSGAUDIT_SURELY_UNSET\" }}"
                ),
                "corps[0].alert_app.secret_env",
            ),
            (
                format!(
                    "{GOOD}\n{}",
                    &GOOD[GOOD.find("[[corps]]").expect("corps")..]
                ),
                "ww1 is listed twice",
            ),
        ];
        for (text, needle) in cases {
            let e = load(&text).expect_err(needle).to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn the_spool_sits_beside_its_store_unless_told_otherwise() {
        let base = Path::new("/etc/msgaudit");
        assert_eq!(
            default_spool_dir("clickhouse://default@10.0.0.1:8123/archive", base),
            Path::new("/etc/msgaudit/msgaudit-data/archive.spool")
        );
        assert_eq!(
            default_spool_dir("sqlite:///var/lib/msgaudit/a.db", base),
            Path::new("/var/lib/msgaudit/a.spool")
        );
        let c = load(&format!("[spool]\ndir = \"q\"\nmax_mb = 64\n{GOOD}")).expect("valid");
        let spool = c.spool.expect("on");
        assert!(spool.dir.is_absolute() && spool.dir.ends_with("q"));
        assert_eq!((spool.max_bytes, spool.segment_bytes), (64 << 20, 4 << 20));
        let off = load(&format!("[spool]\nenabled = false\n{GOOD}")).expect("valid");
        assert!(off.spool.is_none());
    }

    #[test]
    fn alert_apps_come_with_their_corps() {
        let c = load(&format!(
            "[alerts]\nmax_posts_per_minute = 5\n{GOOD}\nalert_app = {{ agent_id = 1000002, secret_env = \"PATH\" }}"
        ))
        .expect("valid");
        let settings = &c.alerts.settings;
        assert_eq!(settings.max_posts_per_minute, 5);
        assert_eq!(crate::config::alert_apps(&c.corps)["ww1"].agent_id, 1000002);
        assert_eq!(settings.first_retry, Duration::from_secs(5));
        assert!(c.alerts.enabled);
    }

    #[test]
    fn store_corps_need_secret_references() {
        let account = CorpAccount {
            corp_id: "ww9".into(),
            company_name: String::new(),
            chat_secret_ref: "plain-secret".into(),
            private_keys_ref: String::new(),
        };
        let e = corp_from_account(&account)
            .expect_err("plain secret refused")
            .to_string();
        assert!(
            e.contains("never kept in the store") && !e.contains("plain-secret"),
            "{e}"
        );
        let keys = crate::emulator::source_dir().join("fixtures/keys");
        let ok = CorpAccount {
            chat_secret_ref: "env:PATH".into(),
            private_keys_ref: format!(
                "1={}, 3={}",
                keys.join("v1_private.pem").display(),
                keys.join("v3_private.pem").display()
            ),
            ..account
        };
        assert_eq!(
            corp_from_account(&ok)
                .expect("valid")
                .keys
                .versions()
                .collect::<Vec<_>>(),
            [1, 3]
        );
    }
}

mod media {
    use crate::config::*;

    fn load(extra: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = crate::emulator::source_dir().join("fixtures/keys");
        let text = format!(
            "[sdk]\nlibrary = \"lib.so\"\n{extra}\n[[corps]]\ncorp_id = \"ww1\"\nsecret_env = \"PATH\"\n\
             keys = {{ 1 = \"{}\" }}\n",
            keys.join("v1_private.pem").display()
        );
        let path = dir.path().join("msgaudit.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path)
    }

    fn problem(extra: &str) -> String {
        load(extra).expect_err("refused").to_string()
    }

    #[test]
    fn media_is_on_by_default_beside_the_store() {
        let c = load("").expect("valid");
        let m = c.media.expect("on by default");
        assert!(m.store.ends_with("msgaudit-data/media"), "{}", m.store);
        assert!(m.s3.is_none());
        assert_eq!(m.fetcher.concurrency, 4);
        assert!(m.fetcher.quota_bytes.is_none());
        let off = load("[media]\nenabled = false").expect("valid");
        assert!(off.media.is_none());
        let quota = load("[media]\nquota_mb = 10").expect("valid");
        assert_eq!(quota.media.expect("on").fetcher.quota_bytes, Some(10 << 20));
    }

    #[test]
    fn bad_media_settings_name_the_field_and_the_fix() {
        assert!(problem("[media]\nconcurrency = 0").contains("media.concurrency"));
        assert!(problem("[media]\nstore = \"ftp://x\"").contains("s3://bucket/prefix"));
        let e = problem(
            "[media]\nstore = \"s3://b/p\"\n[media.s3]\naccess_key_id = \"AK\"\n\
             secret_access_key_env = \"MSGAUDIT_NO_SUCH_VARIABLE\"",
        );
        assert!(e.contains("MSGAUDIT_NO_SUCH_VARIABLE is not set"), "{e}");
        let e = problem(
            "[media]\nstore = \"s3://b\"\n[media.s3]\nendpoint = \"127.0.0.1:9000\"\n\
             access_key_id = \"AK\"\nsecret_access_key_env = \"PATH\"",
        );
        assert!(e.contains("media.s3.endpoint"), "{e}");
    }

    #[test]
    fn an_s3_store_reads_its_secret_from_the_environment_and_never_shows_it() {
        let c = load(
            "[media]\nstore = \"s3://bucket/prefix/\"\n[media.s3]\nendpoint = \"http://127.0.0.1:9000\"\n\
             access_key_id = \"AK\"\nsecret_access_key_env = \"PATH\"",
        )
        .expect("valid");
        let m = c.media.expect("on");
        assert_eq!(m.store, "s3://bucket/prefix");
        let s3 = m.s3.expect("s3 settings");
        assert_eq!(
            s3.secret_access_key.expose(),
            std::env::var("PATH").expect("PATH")
        );
        assert!(!format!("{s3:?}").contains(s3.secret_access_key.expose()));
        assert!(
            s3.staging.ends_with("msgaudit-data/media-staging"),
            "{}",
            s3.staging.display()
        );
    }
}

mod examples {
    /// The shipped example must stay valid.
    #[test]
    fn fixtures_example_config_validates() {
        let path = crate::emulator::source_dir().join("fixtures/msgaudit.toml");
        let text = std::fs::read_to_string(&path).expect("example config");
        let text = text.replace("MSGAUDIT_SECRET_WWEXAMPLE", "PATH");
        let dir = crate::emulator::source_dir().join("fixtures");
        let raw: crate::config::RawConfig = toml::from_str(&text).expect("parses");
        let c = crate::config::Config::validate(raw, &dir).expect("validates");
        assert_eq!(c.corps[0].corp_id, "wwexample");
    }

    /// Every setting a section takes, from the error `deny_unknown_fields` gives for one it does
    /// not ("unknown field `…`, expected one of `a`, `b`"), so a new setting cannot be missed.
    fn settings_of<T: serde::de::DeserializeOwned>() -> Vec<String> {
        let err = match toml::from_str::<T>("no_such_setting_at_all = 1") {
            Ok(_) => panic!("a section took an unknown setting"),
            Err(e) => e.to_string(),
        };
        let expected = err
            .split_once("expected")
            .map(|(_, list)| list.to_owned())
            .unwrap_or_else(|| panic!("no list of settings in: {err}"));
        let names: Vec<String> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert!(!names.is_empty(), "{err}");
        names
    }

    /// The shipped example shows every setting, set or commented out, so it is the one place an
    /// operator reads them all.
    #[test]
    fn fixtures_example_config_names_every_setting() {
        use crate::config::*;
        let path = crate::emulator::source_dir().join("fixtures/msgaudit.toml");
        let text = std::fs::read_to_string(&path).expect("example config");
        // (section, key) of every setting shown, set or commented out: `[a.b]` shows `b` of `a`,
        // and `k = { x = 1 }` shows `x` of `k`.
        let mut shown: std::collections::HashSet<(String, String)> = Default::default();
        let mut section = String::new();
        let is_key = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            let header = line.split('#').next().unwrap_or("").trim();
            if let Some(name) = header
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .map(|h| h.trim_matches(['[', ']']))
                .filter(|h| h.split('.').all(is_key))
            {
                let (parent, last) = name.rsplit_once('.').unwrap_or(("", name));
                shown.insert((parent.to_owned(), last.to_owned()));
                section = name.to_owned();
                continue;
            }
            let Some((key, value)) = line.split_once(" = ") else {
                continue;
            };
            if !is_key(key) {
                continue;
            }
            shown.insert((section.clone(), key.to_owned()));
            if let Some(inline) = value.trim().strip_prefix('{') {
                for part in inline.split(',') {
                    if let Some((k, _)) = part.split_once('=') {
                        shown.insert((key.to_owned(), k.trim().to_owned()));
                    }
                }
            }
        }
        let sections: Vec<(&str, Vec<String>)> = vec![
            ("", settings_of::<RawConfig>()),
            ("store", settings_of::<store::RawStore>()),
            ("sdk", settings_of::<sdk::RawSdk>()),
            ("pull", settings_of::<pull::RawPull>()),
            ("pipeline", settings_of::<pull::RawPipeline>()),
            ("spool", settings_of::<spool::RawSpool>()),
            ("media", settings_of::<media::RawMedia>()),
            ("media.s3", settings_of::<media::RawS3>()),
            ("crypto", settings_of::<crypto::RawCrypto>()),
            ("alerts", settings_of::<alerts::RawAlerts>()),
            ("metrics", settings_of::<metrics::RawMetrics>()),
            ("display", settings_of::<display::RawDisplay>()),
            ("names", settings_of::<names::RawNames>()),
            ("coordinator", settings_of::<coordinator::RawCoordinator>()),
            ("corps", settings_of::<corps::RawCorp>()),
            ("alert_app", settings_of::<alerts::RawAlertApp>()),
        ];
        let mut missing = Vec::new();
        for (section, names) in &sections {
            for name in names {
                if !shown.contains(&((*section).to_owned(), name.clone())) {
                    missing.push(format!("[{section}] {name}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fixtures/msgaudit.toml does not show: {}",
            missing.join(", ")
        );
    }
}
