//! Emulated media files: self-describing `sdkfileid`s and their deterministic bytes.
//!
//! An `sdkfileid` names a file of a per-seed pool (its format and number) and its size, plus a
//! check value, so the emulator can serve any chunk of any file without storing it and can refuse a
//! made-up id with 10005. A file is a pure function of (seed, format, number): real PNG, JPEG, AMR,
//! MP4, PDF or CSV bytes ([`crate::formats`]), generated once and cached (within a memory budget),
//! or, for [`Format::Raw`], bytes computed at any offset with runs of NULs (so a wrapper reading
//! media as C strings is caught). Messages reuse pool files the way forwarded images repeat in real
//! chats.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use md5::{Digest, Md5};

use crate::formats;
use crate::rng::{Rng, mix64};

/// What kind of bytes a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Binary noise with runs of NULs, computed at any offset (any size, no memory).
    Raw,
    PhotoPng,
    PhotoJpeg,
    /// An incompressible PNG of about the file's size (for multi-MiB pictures).
    NoisePng,
    /// A QR code ([`MediaFile::qr_text`]) as PNG or JPEG.
    QrPng,
    QrJpeg,
    Amr,
    Mp4,
    Pdf,
    Csv,
}

impl Format {
    const ALL: [Format; 10] = [
        Format::Raw,
        Format::PhotoPng,
        Format::PhotoJpeg,
        Format::NoisePng,
        Format::QrPng,
        Format::QrJpeg,
        Format::Amr,
        Format::Mp4,
        Format::Pdf,
        Format::Csv,
    ];

    fn code(self) -> u64 {
        Format::ALL.iter().position(|f| *f == self).unwrap_or(0) as u64
    }

    fn from_code(code: u64) -> Option<Format> {
        Format::ALL.get(usize::try_from(code).ok()?).copied()
    }
}

/// Which pool a message draws its file from, by what the message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Image,
    Emotion,
    Voice,
    Video,
    Pdf,
    Csv,
    Png,
}

/// One emulated media file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaFile {
    pub seed: u64,
    pub file_no: u64,
    pub size: u64,
    pub format: Format,
    /// The size the file was made for (its bytes depend on it); the size itself for raw files.
    pub target: u64,
}

const PREFIX: &str = "EMUFILE";

impl MediaFile {
    /// A raw file of `size` bytes.
    pub fn raw(seed: u64, file_no: u64, size: u64) -> MediaFile {
        MediaFile {
            seed,
            file_no,
            size,
            format: Format::Raw,
            target: size,
        }
    }

    /// A file of a real format; its size is what the format gives (`target` guides big ones).
    pub fn typed(seed: u64, format: Format, file_no: u64, target: u64) -> MediaFile {
        if format == Format::Raw {
            return MediaFile::raw(seed, file_no, target);
        }
        let key = (seed, format, file_no, target);
        if let Some(size) = typed_sizes().lock().ok().and_then(|s| s.get(&key).copied()) {
            return MediaFile {
                seed,
                file_no,
                size,
                format,
                target,
            };
        }
        // Made once for its size and md5, then dropped: the bytes are kept (within the budget)
        // only once someone downloads them, so an archive whose media nobody fetches holds none.
        let bytes = generate(seed, format, file_no, target);
        let file = MediaFile {
            seed,
            file_no,
            size: bytes.len() as u64,
            format,
            target,
        };
        remember_md5(file, to_hex(&Md5::digest(&bytes)));
        if let Ok(mut sizes) = typed_sizes().lock() {
            sizes.insert(key, file.size);
        }
        file
    }

    /// The id a message carries; `seq` and `idx` only make it unique per message.
    pub fn sdkfileid(&self, seq: u64, idx: u64) -> String {
        let check = self.check(seq, idx);
        format!(
            "{PREFIX}.{:x}.{:x}.{:x}.{:x}.{:x}.{:x}.{:x}.{:016x}",
            self.seed,
            self.format.code(),
            self.file_no,
            self.target,
            self.size,
            seq,
            idx,
            check
        )
    }

    /// Parses an id made by [`MediaFile::sdkfileid`] into the file and the seq of its message;
    /// `None` for anything else (the SDK's 10005).
    pub fn parse_with_seq(sdkfileid: &str) -> Option<(MediaFile, u64)> {
        let mut parts = sdkfileid.split('.');
        if parts.next()? != PREFIX {
            return None;
        }
        let mut hex = || u64::from_str_radix(parts.next()?, 16).ok();
        let (seed, format, file_no, target, size, seq, idx, check) = (
            hex()?,
            hex()?,
            hex()?,
            hex()?,
            hex()?,
            hex()?,
            hex()?,
            hex()?,
        );
        let file = MediaFile {
            seed,
            file_no,
            size,
            format: Format::from_code(format)?,
            target,
        };
        (parts.next().is_none() && file.check(seq, idx) == check).then_some((file, seq))
    }

    /// Parses an id made by [`MediaFile::sdkfileid`]; `None` for anything else.
    pub fn parse(sdkfileid: &str) -> Option<MediaFile> {
        MediaFile::parse_with_seq(sdkfileid).map(|(f, _)| f)
    }

    fn check(&self, seq: u64, idx: u64) -> u64 {
        mix64(
            self.seed
                ^ mix64(
                    self.format.code()
                        ^ mix64(
                            self.file_no
                                ^ mix64(self.target ^ mix64(self.size ^ mix64(seq ^ mix64(idx)))),
                        ),
                ),
        )
    }

    /// What the QR code in this image says, for QR images.
    pub fn qr_text(&self) -> Option<String> {
        matches!(self.format, Format::QrPng | Format::QrJpeg)
            .then(|| formats::qr_text(self.seed, self.file_no))
    }

    /// Seconds of voice in an AMR file (50 frames of 32 bytes a second).
    pub fn voice_seconds(&self) -> u64 {
        (self.size.saturating_sub(6) / 32 / 50).max(1)
    }

    /// Bytes `[offset, offset + len)` of the file, clipped to its size.
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let end = self.size.min(offset.saturating_add(len as u64));
        if self.format != Format::Raw {
            let whole = content(self.seed, self.format, self.file_no, self.target);
            let (from, to) = (offset.min(end) as usize, (end as usize).min(whole.len()));
            return whole.get(from..to).map(<[u8]>::to_vec).unwrap_or_default();
        }
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
        if let Some(hit) = md5s().lock().map(|c| c.get(self).cloned()).ok().flatten() {
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
        remember_md5(*self, hex.clone());
        hex
    }
}

/// Each file's md5, once computed.
fn md5s() -> &'static Mutex<HashMap<MediaFile, String>> {
    static MD5S: OnceLock<Mutex<HashMap<MediaFile, String>>> = OnceLock::new();
    MD5S.get_or_init(|| Mutex::new(HashMap::new()))
}

fn remember_md5(file: MediaFile, hex: String) {
    if let Ok(mut c) = md5s().lock() {
        c.insert(file, hex);
    }
}

/// Each typed file's size, once made (a few bytes a file, where the bytes are up to MiBs).
fn typed_sizes() -> &'static Mutex<HashMap<ContentKey, u64>> {
    static SIZES: OnceLock<Mutex<HashMap<ContentKey, u64>>> = OnceLock::new();
    SIZES.get_or_init(|| Mutex::new(HashMap::new()))
}

type ContentKey = (u64, Format, u64, u64);

/// Generated files kept in memory, at most this many bytes (older ones are made again if asked);
/// set from the options of the archive last opened (`media_cache`).
static CACHE_BUDGET: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(192 << 20);

/// Sets the budget of generated files kept in memory.
pub fn set_cache_budget(mb: u64) {
    CACHE_BUDGET.store(
        usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
}

struct ContentCache {
    files: HashMap<ContentKey, Arc<Vec<u8>>>,
    order: VecDeque<ContentKey>,
    bytes: usize,
}

/// The bytes of a typed file, generated once and cached.
fn content(seed: u64, format: Format, file_no: u64, target: u64) -> Arc<Vec<u8>> {
    static CACHE: OnceLock<Mutex<ContentCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        Mutex::new(ContentCache {
            files: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        })
    });
    let key = (seed, format, file_no, target);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.files.get(&key).cloned()) {
        return hit;
    }
    let made = Arc::new(generate(seed, format, file_no, target));
    if let Ok(mut c) = cache.lock() {
        c.bytes += made.len();
        c.files.insert(key, made.clone());
        c.order.push_back(key);
        let budget = CACHE_BUDGET.load(std::sync::atomic::Ordering::Relaxed);
        while c.bytes > budget && c.order.len() > 1 {
            if let Some(old) = c.order.pop_front() {
                if let Some(gone) = c.files.remove(&old) {
                    c.bytes -= gone.len();
                }
            }
        }
    }
    made
}

fn generate(seed: u64, format: Format, file_no: u64, target: u64) -> Vec<u8> {
    let mut rng = Rng::for_message(seed, file_no, 0x6669_6c65 ^ format.code());
    match format {
        Format::Raw => Vec::new(),
        Format::PhotoPng => formats::photo_png(&mut rng),
        Format::PhotoJpeg => formats::photo_jpeg(&mut rng),
        Format::NoisePng => formats::noise_png(&mut rng, target),
        Format::QrPng => formats::qr_image(&formats::qr_text(seed, file_no), false),
        Format::QrJpeg => formats::qr_image(&formats::qr_text(seed, file_no), true),
        Format::Amr => formats::amr(&mut rng, target.saturating_sub(6) / 32),
        Format::Mp4 => formats::mp4(&mut rng, target),
        Format::Pdf => formats::pdf(
            &mut rng,
            &format!("WeCom emulator document {file_no}"),
            target,
        ),
        Format::Csv => formats::csv(&mut rng),
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

/// File `file_no` of a class's pool: its format and size drawn from the seed; big files (up to
/// several MiB, never more than `max_media`) are a few percent.
pub fn pool_file(seed: u64, class: Class, file_no: u64, max_media: u64) -> MediaFile {
    let r = mix64(seed ^ mix64(file_no ^ 0x5151 ^ (class as u64) << 32));
    let pct = r % 100;
    let big = |lo: u64, hi: u64| (lo + (r >> 8) % (hi - lo)).min(max_media);
    let (format, target) = match class {
        Class::Image => match pct {
            0..=49 => (Format::PhotoPng, 0),
            50..=69 => (Format::PhotoJpeg, 0),
            70..=79 => (Format::QrPng, 0),
            80..=84 => (Format::QrJpeg, 0),
            _ if max_media < 64 * 1024 => (Format::PhotoPng, 0),
            85..=96 => (Format::NoisePng, big(64 * 1024, 900 * 1024)),
            _ => (Format::NoisePng, big(1 << 20, 7 << 20)),
        },
        Class::Emotion | Class::Png => (Format::PhotoPng, 0),
        Class::Voice => (Format::Amr, 6 + 32 * 50 * (1 + (r >> 8) % 60)),
        Class::Video => match pct {
            0..=59 => (Format::Mp4, 0),
            60..=91 => (Format::Mp4, big(10 * 1024, 600 * 1024)),
            _ => (Format::Mp4, big(1 << 20, 6 << 20)),
        },
        Class::Pdf => match pct {
            0..=49 => (Format::Pdf, 0),
            50..=91 => (Format::Pdf, big(1024, 600 * 1024)),
            _ => (Format::Pdf, big(1 << 20, 5 << 20)),
        },
        Class::Csv => (Format::Csv, 0),
    };
    MediaFile::typed(seed, format, file_no, target)
}

/// How many distinct files each class's pool holds.
pub const POOL_FILES: u64 = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdkfileid_round_trips_and_rejects_tampering() {
        let f = MediaFile::raw(7, 3, 6 * 1024 * 1024 + 5);
        let id = f.sdkfileid(42, 0);
        assert_eq!(MediaFile::parse(&id), Some(f));
        assert_eq!(MediaFile::parse_with_seq(&id), Some((f, 42)));
        assert_eq!(MediaFile::parse(&id.replace(".2a.", ".2b.")), None);
        assert_eq!(MediaFile::parse("not an id"), None);
    }

    #[test]
    fn chunks_concatenate_to_the_whole_file() {
        for f in [
            MediaFile::raw(1, 9, 1000),
            pool_file(1, Class::Image, 3, 8 << 20),
            pool_file(1, Class::Voice, 4, 8 << 20),
        ] {
            let whole = f.bytes(0, f.size as usize);
            assert_eq!(whole.len() as u64, f.size);
            let mut parts = f.bytes(0, 333);
            parts.extend(f.bytes(333, 333));
            parts.extend(f.bytes(666, f.size as usize));
            assert_eq!(whole, parts);
            assert_eq!(f.md5_hex(), to_hex(&Md5::digest(&whole)));
        }
        assert!(
            MediaFile::raw(1, 9, 1000).bytes(0, 1000).contains(&0),
            "raw media must contain NUL bytes"
        );
    }

    #[test]
    fn files_are_real_formats() {
        let heads: Vec<(Class, &[u8])> = vec![
            (Class::Voice, b"#!AMR\n"),
            (Class::Pdf, b"%PDF-"),
            (Class::Png, b"\x89PNG"),
        ];
        for (class, magic) in heads {
            let f = pool_file(2, class, 1, 8 << 20);
            assert!(f.bytes(0, 8).starts_with(magic), "{class:?}");
        }
        let video = pool_file(2, Class::Video, 1, 8 << 20);
        assert_eq!(&video.bytes(4, 4), b"ftyp");
        let qr = (0..64)
            .map(|n| pool_file(2, Class::Image, n, 8 << 20))
            .find(|f| f.qr_text().is_some())
            .expect("some images hold QR codes");
        assert!(qr.size > 1000);
    }
}
