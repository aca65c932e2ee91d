//! QR codes in images: a PNG or JPEG decoded to grey levels and searched with `rqrr` (pure Rust).
//! Images too large to scan safely are skipped with a reason, never a failure of the job.

use std::io::{BufReader, Read};
use std::path::Path;

/// The largest image scanned, in pixels (a 20-megapixel photo; more is not a screenshot of a code).
pub const MAX_PIXELS: u64 = 20_000_000;

/// Why an image could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a decodable {kind} image: {reason}")]
    Decode { kind: &'static str, reason: String },
    #[error(
        "image of {width}×{height} pixels is larger than the scanner's limit ({MAX_PIXELS} pixels)"
    )]
    TooLarge { width: u64, height: u64 },
}

/// A grey-level image.
struct Grey {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// The texts of every QR code found in the image at `path` (`content_type` image/png or image/jpeg).
pub fn scan(path: &Path, content_type: &str) -> Result<Vec<String>, ScanError> {
    let grey = match content_type {
        "image/png" => png_grey(path)?,
        "image/jpeg" => jpeg_grey(path)?,
        _ => return Ok(Vec::new()),
    };
    let Grey {
        width,
        height,
        pixels,
    } = grey;
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        pixels.get(y * width + x).copied().unwrap_or(255)
    });
    let mut found = Vec::new();
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            if !found.contains(&text) {
                found.push(text);
            }
        }
    }
    Ok(found)
}

fn check_size(width: u64, height: u64) -> Result<(), ScanError> {
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(ScanError::TooLarge { width, height });
    }
    Ok(())
}

fn png_grey(path: &Path) -> Result<Grey, ScanError> {
    let bad = |e: png::DecodingError| ScanError::Decode {
        kind: "PNG",
        reason: e.to_string(),
    };
    let mut decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path)?));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(bad)?;
    let (w, h) = (reader.info().width, reader.info().height);
    check_size(u64::from(w), u64::from(h))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ScanError::Decode {
            kind: "PNG",
            reason: "image too large".into(),
        })?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(bad)?;
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let pixels = buf[..frame.buffer_size()]
        .chunks_exact(channels)
        .map(|px| match px {
            [g] | [g, _] => *g,
            [r, g, b, ..] => luma(*r, *g, *b),
            [] => 255,
        })
        .collect();
    Ok(Grey {
        width,
        height,
        pixels,
    })
}

fn jpeg_grey(path: &Path) -> Result<Grey, ScanError> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let bad = |reason: String| ScanError::Decode {
        kind: "JPEG",
        reason,
    };
    let mut data = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut data)?;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&data), options);
    decoder.decode_headers().map_err(|e| bad(e.to_string()))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| bad("no dimensions".into()))?;
    check_size(w as u64, h as u64)?;
    let pixels = decoder.decode().map_err(|e| bad(e.to_string()))?;
    Ok(Grey {
        width: w,
        height: h,
        pixels,
    })
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
}
