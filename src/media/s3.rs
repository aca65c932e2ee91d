//! The S3-compatible media store (`s3://bucket/prefix`), through `object_store`'s S3 client: an
//! object is `prefix/ab/cd/<md5>-<size>`. Downloads are staged in a local directory first, so an
//! upload always has the complete, verified file: up to [`PART_SIZE`] it goes in one PUT, larger
//! files in a multipart upload of 8 MiB parts streamed from the staged file, which the bucket shows
//! only once completed (an interrupted one is aborted, or expires by the bucket's lifecycle rule).
//! The store is synchronous like its trait; it owns a small tokio runtime for the client.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::object::{MediaStore, MediaStoreError, ObjectKey, clear_staging};
use crate::secret::Secret;

/// Files up to this size go in one PUT; larger ones in parts of this size.
pub const PART_SIZE: usize = 8 << 20;

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Settings {
    /// `s3://bucket/prefix` (prefix optional).
    pub url: String,
    /// `http(s)://host:port` of an S3-compatible server; None for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Where downloads are staged before upload.
    pub staging: PathBuf,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Media in an S3-compatible bucket.
pub struct S3MediaStore {
    client: AmazonS3,
    bucket: String,
    prefix: String,
    location: String,
    staging: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for S3MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3MediaStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Splits `s3://bucket/some/prefix` into the bucket and the prefix (without slashes at its ends).
pub fn parse_url(url: &str) -> Result<(String, String), MediaStoreError> {
    let bad = |reason: &str| MediaStoreError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("an S3 media store is s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket: use s3://bucket/prefix"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl S3MediaStore {
    /// Builds the client (nothing is sent yet) and clears what a crash left in staging.
    pub fn open(settings: &S3Settings) -> Result<S3MediaStore, MediaStoreError> {
        let store = S3MediaStore::connect(settings)?;
        std::fs::create_dir_all(&settings.staging).map_err(|source| {
            store.io(
                &format!(
                    "creating the staging directory {}",
                    settings.staging.display()
                ),
                source,
            )
        })?;
        clear_staging(&settings.staging);
        Ok(store)
    }

    /// Proves the bucket can be read with these settings, changing nothing (not even staging):
    /// lists one level under the prefix and returns how many entries it holds.
    pub fn probe(settings: &S3Settings) -> Result<usize, MediaStoreError> {
        let store = S3MediaStore::connect(settings)?;
        let prefix = (!store.prefix.is_empty()).then(|| ObjectPath::from(store.prefix.as_str()));
        let listing = store
            .runtime
            .block_on(store.client.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| store.remote("listing the prefix", e))?;
        Ok(listing.common_prefixes.len() + listing.objects.len())
    }

    /// The client and its runtime; nothing is sent and nothing is written.
    fn connect(settings: &S3Settings) -> Result<S3MediaStore, MediaStoreError> {
        let (bucket, prefix) = parse_url(&settings.url)?;
        let location = format!(
            "{} ({})",
            settings.url,
            settings.endpoint.as_deref().unwrap_or("AWS")
        );
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.expose());
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let client = builder.build().map_err(|e| MediaStoreError::Url {
            url: settings.url.clone(),
            reason: e.to_string(),
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3")
            .enable_all()
            .build()
            .map_err(|source| MediaStoreError::Io {
                location: location.clone(),
                context: "starting the S3 client's runtime".into(),
                source,
            })?;
        Ok(S3MediaStore {
            client,
            bucket,
            prefix,
            location,
            staging: settings.staging.clone(),
            runtime,
        })
    }

    fn object_path(&self, key: &ObjectKey) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key.path())
        } else {
            ObjectPath::from(format!("{}/{}", self.prefix, key.path()))
        }
    }

    fn remote(&self, context: &str, e: object_store::Error) -> MediaStoreError {
        let transient = !matches!(
            e,
            object_store::Error::NotFound { .. }
                | object_store::Error::InvalidPath { .. }
                | object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        );
        let hint = match e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                " (check the access key and secret in [media.s3])"
            }
            _ => "",
        };
        MediaStoreError::Remote {
            location: self.location.clone(),
            context: format!("{context} in bucket {}{hint}", self.bucket),
            detail: e.to_string(),
            transient,
        }
    }

    fn io(&self, context: &str, source: std::io::Error) -> MediaStoreError {
        MediaStoreError::Io {
            location: self.location.clone(),
            context: context.to_owned(),
            source,
        }
    }

    async fn upload(&self, staged: &Path, path: &ObjectPath) -> Result<(), MediaStoreError> {
        let mut file =
            std::fs::File::open(staged).map_err(|e| self.io("opening a staged download", e))?;
        let len = file
            .metadata()
            .map_err(|e| self.io("reading a staged download", e))?
            .len();
        if len <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| self.io("reading a staged download", e))?;
            self.client
                .put(path, PutPayload::from(bytes))
                .await
                .map_err(|e| self.remote("uploading an object", e))?;
            return Ok(());
        }
        let upload = self
            .client
            .put_multipart(path)
            .await
            .map_err(|e| self.remote("starting a multipart upload", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0; 1 << 20];
        let result: Result<(), MediaStoreError> = async {
            loop {
                // At most two parts in flight: memory stays a few parts whatever the file size.
                writer
                    .wait_for_capacity(2)
                    .await
                    .map_err(|e| self.remote("uploading a part", e))?;
                let n = file
                    .read(&mut buf)
                    .map_err(|e| self.io("reading a staged download", e))?;
                if n == 0 {
                    return Ok(());
                }
                writer.write(&buf[..n]);
            }
        }
        .await;
        match result {
            Ok(()) => writer
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| self.remote("completing a multipart upload", e)),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

impl MediaStore for S3MediaStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn contains(&self, key: &ObjectKey) -> Result<bool, MediaStoreError> {
        let path = self.object_path(key);
        match self.runtime.block_on(self.client.head(&path)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.remote("looking for an object", e)),
        }
    }

    fn put(&self, staged: &Path, key: &ObjectKey) -> Result<bool, MediaStoreError> {
        let result = match self.contains(key) {
            Ok(true) => Ok(false),
            Ok(false) => {
                let path = self.object_path(key);
                self.runtime
                    .block_on(self.upload(staged, &path))
                    .map(|()| true)
            }
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(staged);
        result
    }

    fn get(&self, key: &ObjectKey, out: &mut dyn Write) -> Result<u64, MediaStoreError> {
        let path = self.object_path(key);
        self.runtime.block_on(async {
            let got = self.client.get(&path).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => MediaStoreError::NotFound {
                    location: self.location.clone(),
                    key: key.path(),
                },
                e => self.remote("reading an object", e),
            })?;
            let mut stream = got.into_stream();
            let mut n = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.remote("reading an object", e))?;
                out.write_all(&chunk)
                    .map_err(|e| self.io("writing an object out", e))?;
                n += chunk.len() as u64;
            }
            Ok(n)
        })
    }

    fn object_len(&self, key: &ObjectKey) -> Result<Option<u64>, MediaStoreError> {
        let path = self.object_path(key);
        match self.runtime.block_on(self.client.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.remote("looking for an object", e)),
        }
    }

    fn get_range(
        &self,
        key: &ObjectKey,
        offset: u64,
        len: u64,
        out: &mut dyn Write,
    ) -> Result<u64, MediaStoreError> {
        if len == 0 {
            return Ok(0);
        }
        let path = self.object_path(key);
        let bytes = self
            .runtime
            .block_on(self.client.get_range(&path, offset..offset + len))
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => MediaStoreError::NotFound {
                    location: self.location.clone(),
                    key: key.path(),
                },
                e => self.remote("reading part of an object", e),
            })?;
        out.write_all(&bytes)
            .map_err(|e| self.io("writing an object out", e))?;
        Ok(bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(
            parse_url("s3://media/archive/ww1/").expect("url"),
            ("media".into(), "archive/ww1".into())
        );
        assert_eq!(
            parse_url("s3://media").expect("url"),
            ("media".into(), String::new())
        );
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("http://x").is_err());
    }
}
