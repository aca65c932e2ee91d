//! The vendor's real `libWeWorkFinanceSdk_C.so` (from the PyPI package `pyweworkfinance` 1.1.0, fetched
//! at test time and never committed) driven through our wrapper. Without a route to WeCom it answers
//! `Init` 0, `GetChatData` 10001, `limit` 1001 → 10000, a made-up key → 10008. It links OpenSSL
//! 3.0.14 statically and exports those symbols; we check that our own OpenSSL (RSA here, and the
//! emulator's) keeps working beside it in the same process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use msgaudit::sdk::{FinanceLibrary, NetworkOptions, RandomKey, code};
use msgaudit::secret::Secret;
use openssl::rsa::{Padding, Rsa};

use crate::support::{emulator, keys, root, session};

const PACKAGE: &str = "pyweworkfinance==1.1.0";

fn member() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "pyweworkfinance/libs/linux/libWeWorkFinanceSdk_C_arm.so"
    } else {
        "pyweworkfinance/libs/linux/libWeWorkFinanceSdk_C_x86.so"
    }
}

/// The vendor library: `$MSGAUDIT_VENDOR_SDK`, or fetched from PyPI into target/vendor-sdk once.
/// `Err` says why it could not be had.
fn vendor_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MSGAUDIT_VENDOR_SDK") {
        return Ok(PathBuf::from(p));
    }
    let dir = root().join("target/vendor-sdk");
    let lib = dir.join(member());
    if lib.exists() {
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let fetched = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            PACKAGE,
            "-d",
        ])
        .arg(&dir)
        .status()
        .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
    if !fetched.success() {
        return Err(format!("`pip download {PACKAGE}` failed ({fetched})"));
    }
    let script = format!(
        "import glob,zipfile,sys; w=glob.glob(sys.argv[1]+'/pyweworkfinance-1.1.0-*.whl')[0]; \
         zipfile.ZipFile(w).extract('{}', sys.argv[1])",
        member()
    );
    let extracted = Command::new("python3")
        .args(["-c", &script])
        .arg(&dir)
        .status()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !extracted.success() || !lib.exists() {
        return Err(format!("could not extract {} from the wheel", member()));
    }
    Ok(lib)
}

fn own_rsa_round_trip() {
    let pem = std::fs::read(root().join("fixtures/keys/v1_public.pem")).expect("fixture");
    let public = Rsa::public_key_from_pem(&pem).expect("our OpenSSL parses PEM");
    let mut ct = vec![0u8; 256];
    let n = public
        .public_encrypt(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", &mut ct, Padding::PKCS1)
        .expect("our OpenSSL encrypts");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ct[..n]);
    keys(&[1])
        .decrypt_random_key(1, &b64)
        .expect("our OpenSSL decrypts beside the vendor's");
}

#[test]
fn the_real_vendor_library_surfaces_typed_errors_and_leaves_our_crypto_alone() {
    let path = match vendor_library() {
        Ok(p) => p,
        Err(why) => {
            eprintln!(
                "\n\n*** SKIPPED: the vendor finance SDK could not be fetched: {why} ***\n\n"
            );
            return;
        }
    };
    let ours_before = openssl::version::version();
    let vendor = FinanceLibrary::load(&path).expect("the vendor library has all 17 symbols");
    assert_eq!(
        openssl::version::version(),
        ours_before,
        "the vendor's OpenSSL must not interpose on ours"
    );

    for round in 0..3 {
        let mut s = vendor
            .session(
                "ww0123456789abcdef",
                &Secret::new("not-a-real-secret"),
                &NetworkOptions::default(),
            )
            .expect("Init answers 0 without a network");
        let e = s
            .get_chat_data(0, 10, Duration::from_secs(2))
            .expect_err("no route to WeCom");
        assert_eq!(
            e.code(),
            Some(i64::from(code::NETWORK_ERROR)),
            "round {round}: {e}"
        );
        assert!(e.is_transient());
        let e = s
            .get_chat_data(0, 1001, Duration::from_secs(2))
            .expect_err("limit");
        assert_eq!(e.code(), Some(i64::from(code::BAD_PARAMETERS)), "{e}");
        assert!(!e.is_transient());
    }
    let made_up = RandomKey::new(b"0123456789abcdef0123456789abcdef").expect("printable");
    let e = vendor
        .decryptor()
        .decrypt_data(&made_up, "bm90IGEgcmVhbCBtZXNzYWdl")
        .expect_err("made-up key");
    assert_eq!(e.code(), Some(i64::from(code::BAD_ENCRYPT_KEY)), "{e}");

    // Our crypto, and the emulator's (both on the system OpenSSL), still work with it loaded.
    own_rsa_round_trip();
    let lib = emulator();
    let mut s = session(&lib, "messages=200&seed=21");
    let batch = s
        .get_chat_data(0, 1000, Duration::from_secs(5))
        .expect("emulator pull");
    let ring = keys(&[1, 2]);
    let decryptor = lib.decryptor();
    let decoded = batch
        .messages
        .iter()
        .filter(|m| msgaudit::pipeline::decode_message("wwtest", &ring, &decryptor, m).is_ok())
        .count();
    assert_eq!((batch.len(), decoded), (200, 200));
    assert!(Path::new(&path).exists());
}
