//! Real file formats for emulated media, so that a person and a browser can look at what the
//! emulator serves: PNG and JPEG pictures (some holding QR codes), AMR voice, MP4 video, PDF and
//! text documents. Every file is a pure function of (seed, file number); big files are real too
//! (a noise PNG, an MP4 with a `free` box, a PDF with a binary stream).

use std::io::Write;

use crate::rng::Rng;

/// What a QR code in an emulated image says: a personal WeChat contact, a WeChat or Alipay payment
/// link, or the corp's own (allowed) site.
pub const QR_PAYLOADS: [&str; 4] = [
    "https://u.wechat.com/EHk_personal",
    "wxp://f2f0pay",
    "https://qr.alipay.com/fkx_alipay",
    "https://corp.example.com/join",
];

/// The domain the demo rules allow (`url_allow`): its QR codes are not hits.
pub const ALLOWED_DOMAIN: &str = "corp.example.com";

/// The text of QR code `n` of a seed: one of [`QR_PAYLOADS`] with a token.
pub fn qr_text(seed: u64, n: u64) -> String {
    let base = QR_PAYLOADS[(n % QR_PAYLOADS.len() as u64) as usize];
    format!("{base}{:x}{:x}", seed % 0x1000, n)
}

/// An RGB picture, `w` × `h`, `bytes` 3 per pixel.
struct Picture {
    w: u32,
    h: u32,
    rgb: Vec<u8>,
}

/// A soft photo-like gradient with a few shapes.
fn photo(rng: &mut Rng, w: u32, h: u32) -> Picture {
    let (r0, g0, b0) = (
        rng.below(200) as i64,
        rng.below(200) as i64,
        rng.below(200) as i64,
    );
    let (cx, cy, rad) = (
        rng.below(u64::from(w)) as i64,
        rng.below(u64::from(h)) as i64,
        (20 + rng.below(u64::from(w.min(h)) / 2 + 1)) as i64,
    );
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..i64::from(h) {
        for x in 0..i64::from(w) {
            let inside = (x - cx).pow(2) + (y - cy).pow(2) < rad * rad;
            let shade = if inside { 60 } else { 0 };
            rgb.push(((r0 + x * 55 / i64::from(w) + shade) % 256) as u8);
            rgb.push(((g0 + y * 55 / i64::from(h) + shade) % 256) as u8);
            rgb.push(((b0 + (x + y) * 30 / i64::from(w + h)) % 256) as u8);
        }
    }
    Picture { w, h, rgb }
}

/// Random pixels: a picture that does not compress (for multi-MiB files).
fn noise(rng: &mut Rng, w: u32, h: u32) -> Picture {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize + 8);
    while rgb.len() < (w * h * 3) as usize {
        rgb.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    rgb.truncate((w * h * 3) as usize);
    Picture { w, h, rgb }
}

/// A QR code of `text` on a white card with a border, like a screenshot of one.
fn qr_picture(text: &str) -> Picture {
    let code = qrcode::QrCode::new(text.as_bytes())
        .unwrap_or_else(|_| qrcode::QrCode::new(b"wwemu").expect("a short text always fits"));
    let modules = code.width() as u32;
    let scale = 6;
    let quiet = 4;
    let margin = 24;
    let side = (modules + 2 * quiet) * scale + 2 * margin;
    let colors = code.to_colors();
    let mut rgb = Vec::with_capacity((side * side * 3) as usize);
    for y in 0..side {
        for x in 0..side {
            let in_card = x >= margin && y >= margin && x < side - margin && y < side - margin;
            let dark = in_card && {
                let (mx, my) = ((x - margin) / scale, (y - margin) / scale);
                mx >= quiet
                    && my >= quiet
                    && mx < modules + quiet
                    && my < modules + quiet
                    && colors[((my - quiet) * modules + (mx - quiet)) as usize]
                        == qrcode::Color::Dark
            };
            let px: [u8; 3] = if dark {
                [20, 20, 20]
            } else if in_card {
                [255, 255, 255]
            } else {
                [7, 193, 96] // WeChat green around the card
            };
            rgb.extend_from_slice(&px);
        }
    }
    Picture {
        w: side,
        h: side,
        rgb,
    }
}

fn png(p: &Picture, fast: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, p.w, p.h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(if fast {
        png::Compression::Fastest
    } else {
        png::Compression::Balanced
    });
    if let Ok(mut w) = enc.write_header() {
        let _ = w.write_image_data(&p.rgb);
    }
    out
}

fn jpeg(p: &Picture) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 85);
    let (w, h) = (
        p.w.min(u32::from(u16::MAX)) as u16,
        p.h.min(u32::from(u16::MAX)) as u16,
    );
    let _ = enc.encode(&p.rgb, w, h, jpeg_encoder::ColorType::Rgb);
    out
}

/// A photo-like PNG, 64–480 px a side.
pub fn photo_png(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (64 + rng.below(417) as u32, 64 + rng.below(417) as u32);
    png(&photo(rng, w, h), false)
}

/// A photo-like JPEG, 64–640 px a side.
pub fn photo_jpeg(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (64 + rng.below(577) as u32, 64 + rng.below(577) as u32);
    jpeg(&photo(rng, w, h))
}

/// A noise PNG of about `target` bytes (at least a 16×16 picture).
pub fn noise_png(rng: &mut Rng, target: u64) -> Vec<u8> {
    let side = ((target / 3) as f64).sqrt().max(16.0) as u32;
    png(&noise(rng, side, side), true)
}

/// A QR code of `text`, as PNG or JPEG.
pub fn qr_image(text: &str, as_jpeg: bool) -> Vec<u8> {
    let p = qr_picture(text);
    if as_jpeg { jpeg(&p) } else { png(&p, false) }
}

/// AMR-NB voice of `frames` 20 ms frames at 12.2 kbit/s: the file header, then per frame a
/// header byte (mode 7, quality bit set) and 31 bytes of speech parameters.
pub fn amr(rng: &mut Rng, frames: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + 32 * frames as usize);
    out.extend_from_slice(b"#!AMR\n");
    for _ in 0..frames {
        out.push(0x3C);
        let mut payload = [0u8; 31];
        for chunk in payload.chunks_mut(8) {
            let r = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        // The last byte holds 4 bits of data and 4 of padding, which must be zero.
        payload[30] &= 0xF0;
        out.extend_from_slice(&payload);
    }
    out
}

/// The committed 3-second clip.
const CLIP: &[u8] = include_bytes!("../fixtures/clip.mp4");

/// An MP4 video: the clip, then a `free` box of `padding` bytes (0 for the clip alone).
pub fn mp4(rng: &mut Rng, padding: u64) -> Vec<u8> {
    let mut out = CLIP.to_vec();
    if padding >= 8 {
        out.extend_from_slice(&(padding.min(u64::from(u32::MAX)) as u32).to_be_bytes());
        out.extend_from_slice(b"free");
        let mut left = padding.min(u64::from(u32::MAX)) - 8;
        while left > 0 {
            let r = rng.next_u64().to_le_bytes();
            let take = left.min(8) as usize;
            out.extend_from_slice(&r[..take]);
            left -= take as u64;
        }
    }
    out
}

/// A one-page PDF saying `title`, with a binary stream of `padding` bytes when asked (for big files).
pub fn pdf(rng: &mut Rng, title: &str, padding: u64) -> Vec<u8> {
    let text = title.replace(['(', ')', '\\'], " ");
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let mut pad = Vec::with_capacity(padding as usize);
    while (pad.len() as u64) < padding {
        pad.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    pad.truncate(padding as usize);
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let mut attachment = format!("<< /Length {} >>\nstream\n", pad.len()).into_bytes();
    attachment.extend_from_slice(&pad);
    attachment.extend_from_slice(b"\nendstream");
    objects.push(attachment);
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = writeln!(out, "{} 0 obj", i + 1);
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        let _ = writeln!(out, "{o:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out
}

/// A small CSV document.
pub fn csv(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::from("产品,数量,单价\n");
    for i in 0..1 + rng.below(20) {
        out.push_str(&format!(
            "型号{},{},{}\n",
            i + 1,
            1 + rng.below(50),
            100 + rng.below(900)
        ));
    }
    out.into_bytes()
}
