//! Emulated media files: self-describing `sdkfileid`s and their deterministic bytes.
//!
//! An `sdkfileid` names a file of a per-seed pool (`file_no`) and its size, plus a check value, so
//! the emulator can serve any chunk of any file without storing it and can refuse a made-up id with
//! 10005. The bytes are a pure function of (seed, file_no, offset): random access for 512 KiB chunks,
//! NUL bytes included so that a wrapper reading media as C strings is caught. The md5 of each file is
//! computed once and cached; messages reuse pool files the way forwarded images repeat in real chats.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use md5::{Digest, Md5};

use crate::rng::mix64;

/// One emulated media file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaFile {
    pub seed: u64,
    pub file_no: u64,
    pub size: u64,
}

const PREFIX: &str = "EMUFILE";

impl MediaFile {
    /// The id a message carries; `seq` and `idx` only make it unique per message.
    pub fn sdkfileid(&self, seq: u64, idx: u64) -> String {
        let check = self.check(seq, idx);
        format!(
            "{PREFIX}.{:x}.{:x}.{:x}.{:x}.{:x}.{:016x}",
            self.seed, self.file_no, self.size, seq, idx, check
        )
    }

    /// Parses an id made by [`MediaFile::sdkfileid`]; `None` for anything else (the SDK's 10005).
    pub fn parse(sdkfileid: &str) -> Option<MediaFile> {
        let mut parts = sdkfileid.split('.');
        if parts.next()? != PREFIX {
            return None;
        }
        let mut hex = || u64::from_str_radix(parts.next()?, 16).ok();
        let (seed, file_no, size, seq, idx, check) =
            (hex()?, hex()?, hex()?, hex()?, hex()?, hex()?);
        let file = MediaFile {
            seed,
            file_no,
            size,
        };
        (parts.next().is_none() && file.check(seq, idx) == check).then_some(file)
    }

    fn check(&self, seq: u64, idx: u64) -> u64 {
        mix64(self.seed ^ mix64(self.file_no ^ mix64(self.size ^ mix64(seq ^ mix64(idx)))))
    }

    /// Bytes `[offset, offset + len)` of the file, clipped to its size.
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let end = self.size.min(offset.saturating_add(len as u64));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let base = mix64(self.seed ^ 0x006d_6564_6961_u64) ^ mix64(self.file_no);
        let mut pos = offset;
        while pos < end {
            let word_no = pos / 8;
            let mut word = mix64(base ^ word_no).to_le_bytes();
            if word_no % 3 == 0 {
                // Runs of NULs, as real images and voice frames have.
                word[1] = 0;
                word[2] = 0;
            }
            let from = (pos % 8) as usize;
            let take = ((end - pos) as usize).min(8 - from);
            out.extend_from_slice(&word[from..from + take]);
            pos += take as u64;
        }
        out
    }

    /// Lower-case hex md5 of the whole file, computed once per file and cached.
    pub fn md5_hex(&self) -> String {
        static CACHE: OnceLock<Mutex<HashMap<MediaFile, String>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(hit) = cache.lock().map(|c| c.get(self).cloned()).ok().flatten() {
            return hit;
        }
        let mut hasher = Md5::new();
        let step = 1 << 20;
        let mut offset = 0;
        while offset < self.size {
            hasher.update(self.bytes(offset, step));
            offset += step as u64;
        }
        let hex = to_hex(&hasher.finalize());
        if let Ok(mut c) = cache.lock() {
            c.insert(*self, hex.clone());
        }
        hex
    }
}

/// Lower-case hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Size of pool file `file_no`: mostly small, some hundreds of KiB, a few several MiB.
pub fn pool_file(seed: u64, file_no: u64, max_media: u64) -> MediaFile {
    let r = mix64(seed ^ mix64(file_no ^ 0x5151));
    let size = match r % 100 {
        0..=69 => 1 + (r >> 8) % (16 * 1024),
        70..=97 => 16 * 1024 + (r >> 8) % (600 * 1024),
        _ => 1024 * 1024 + (r >> 8) % (7 * 1024 * 1024),
    };
    MediaFile {
        seed,
        file_no,
        size: size.min(max_media),
    }
}

/// How many distinct files a generated archive's messages draw from.
pub const POOL_FILES: u64 = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdkfileid_round_trips_and_rejects_tampering() {
        let f = MediaFile {
            seed: 7,
            file_no: 3,
            size: 6 * 1024 * 1024 + 5,
        };
        let id = f.sdkfileid(42, 0);
        assert_eq!(MediaFile::parse(&id), Some(f));
        assert_eq!(MediaFile::parse(&id.replace(".2a.", ".2b.")), None);
        assert_eq!(MediaFile::parse("not an id"), None);
    }

    #[test]
    fn chunks_concatenate_to_the_whole_file() {
        let f = MediaFile {
            seed: 1,
            file_no: 9,
            size: 1000,
        };
        let whole = f.bytes(0, 1000);
        let mut parts = f.bytes(0, 333);
        parts.extend(f.bytes(333, 333));
        parts.extend(f.bytes(666, 5000));
        assert_eq!(whole, parts);
        assert!(whole.contains(&0), "media must contain NUL bytes");
        assert_eq!(f.md5_hex(), to_hex(&Md5::digest(&whole)));
    }
}
