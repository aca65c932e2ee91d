//! Errors at the finance-SDK boundary: one type for loading the library, one for calling it.
//! SDK return codes become [`SdkError`] in exactly one place ([`check`]), and
//! [`SdkError::is_transient`] is the single decision of what is worth retrying.

use std::ffi::c_int;
use std::path::PathBuf;

use wework_finance_sys::code;

/// The library could not be loaded as a finance SDK.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "finance SDK library {path} does not exist: point the configuration at the vendor's \
         libWeWorkFinanceSdk_C.so, or build the emulator with `cargo build --release`"
    )]
    NotFound { path: PathBuf },
    #[error("cannot load finance SDK library {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "{path} is not a WeCom finance SDK: its symbol `{symbol}` is missing \
         (expected the vendor's libWeWorkFinanceSdk_C.so)"
    )]
    MissingSymbol { path: PathBuf, symbol: &'static str },
}

/// A call into the SDK failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The function returned a non-zero code.
    #[error("{call} failed for {context} with SDK code {code} ({}){}{}",
        code::describe(*code),
        if code::is_transient(*code) { "; transient, will be retried" } else { "" },
        code_hint(*code))]
    Code {
        call: &'static str,
        code: c_int,
        context: String,
    },
    /// `GetChatData` returned 0 but its JSON carries a non-zero `errcode`.
    #[error("GetChatData for {context} answered errcode {errcode}: {errmsg}{}", api_hint(*errcode))]
    Api {
        errcode: i64,
        errmsg: String,
        context: String,
    },
    /// The SDK's output is not the JSON it documents.
    #[error("{call} for {context} returned output that is not the documented JSON: {reason}")]
    BadResponse {
        call: &'static str,
        context: String,
        reason: String,
    },
    /// A string argument has an interior NUL and cannot cross the C ABI.
    #[error("{call}: argument `{argument}` contains a NUL byte and cannot be passed to the SDK")]
    NulInArgument {
        call: &'static str,
        argument: &'static str,
    },
    /// `NewSlice`, `NewMediaData` or `NewSdk` returned NULL.
    #[error("{call} returned NULL: the SDK could not allocate")]
    Alloc { call: &'static str },
}

/// What to do about the SDK codes an operator meets when setting a corp up.
fn code_hint(rc: c_int) -> &'static str {
    match rc {
        code::NETWORK_ERROR => {
            " — if it persists: no route to WeCom's archive servers; check this machine's network, \
             or [sdk] proxy"
        }
        code::IP_NOT_TRUSTED => {
            " — add this machine's public IP to the 可信IP list of 会话内容存档 in the admin console"
        }
        _ => "",
    }
}

fn api_hint(errcode: i64) -> &'static str {
    match errcode {
        48002 => {
            " — the secret is not this corp's chat-archive secret: use the 会话内容存档 Secret from \
             the admin console, not an application's secret"
        }
        _ => "",
    }
}

impl SdkError {
    /// The SDK return code or JSON errcode, if the SDK gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SdkError::Code { code, .. } => Some(i64::from(*code)),
            SdkError::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// Whether retrying the same call later may succeed (SDK codes 10001–10003).
    pub fn is_transient(&self) -> bool {
        matches!(self, SdkError::Code { code, .. } if code::is_transient(*code))
    }
}

/// Turns a return code into a result.
pub(crate) fn check(
    call: &'static str,
    rc: c_int,
    context: impl FnOnce() -> String,
) -> Result<(), SdkError> {
    if rc == code::OK {
        Ok(())
    } else {
        Err(SdkError::Code {
            call,
            code: rc,
            context: context(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_an_operator_meets_at_set_up_say_what_to_do() {
        let said = |code| {
            SdkError::Code {
                call: "GetChatData",
                code,
                context: "corp ww1".into(),
            }
            .to_string()
        };
        assert!(
            said(code::IP_NOT_TRUSTED).contains("可信IP"),
            "{}",
            said(10009)
        );
        let network = said(code::NETWORK_ERROR);
        assert!(
            network.contains("transient, will be retried") && network.contains("[sdk] proxy"),
            "{network}"
        );
        assert!(!said(code::BAD_PARAMETERS).contains(" — "));
    }
}
