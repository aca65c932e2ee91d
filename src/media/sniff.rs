//! What a stored file is, from its first bytes (and the name the sender gave it): the MIME type the
//! store records and the workspace serves it with.

/// The MIME type of a file starting with `head`, named `file_name` (may be empty).
pub fn content_type(head: &[u8], file_name: &str) -> &'static str {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"#!AMR-WB\n", "audio/amr-wb"),
        (b"#!AMR\n", "audio/amr"),
        (b"#!SILK_V3", "audio/silk"),
        (b"\x02#!SILK_V3", "audio/silk"),
        (b"ID3", "audio/mpeg"),
        (b"OggS", "audio/ogg"),
        (b"%PDF-", "application/pdf"),
        (b"RIFF", "audio/wav"),
    ];
    if let Some((_, t)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return t;
    }
    if head.get(4..8) == Some(b"ftyp") {
        return "video/mp4";
    }
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if head.starts_with(b"PK\x03\x04") {
        return match ext.as_str() {
            "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            _ => "application/zip",
        };
    }
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    }
}

/// Whether a file of this type is an image the QR scanner can read.
pub fn is_scannable_image(content_type: &str) -> bool {
    matches!(content_type, "image/png" | "image/jpeg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_names() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n....", "a.txt"), "image/png");
        assert_eq!(content_type(b"#!AMR\n\x3c", ""), "audio/amr");
        assert_eq!(content_type(b"\0\0\0\x20ftypisom", ""), "video/mp4");
        assert_eq!(content_type(b"%PDF-1.4", ""), "application/pdf");
        assert_eq!(
            content_type(b"PK\x03\x04", "合同.docx"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(content_type(b"hello", "a.CSV"), "text/csv");
        assert_eq!(content_type(b"", ""), "application/octet-stream");
    }
}
