//! The stage: where extracts are kept between extract and load.
//!
//! One type, [`ObjectStore`], with two implementations: a local folder (the default, so no cloud
//! is needed) and S3 or any S3-compatible server through `aws-sdk-s3`. For a custom endpoint the
//! client uses path-style addressing and computes checksums only where the API requires them,
//! which S3-compatible servers handle reliably.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::config::{S3Settings, StagingSettings};

/// A stage operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// No S3 credentials in the configuration or the environment.
    #[error(
        "no S3 credentials: set [staging] access_key_id and secret_access_key (or PIPEWATCH__STAGING__ACCESS_KEY_ID and PIPEWATCH__STAGING__SECRET_ACCESS_KEY), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials,
    /// The bucket does not exist.
    #[error(
        "S3 bucket {bucket:?} does not exist at {endpoint} (create it, or check [staging] bucket)"
    )]
    NoSuchBucket {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
    /// Any other S3 failure.
    #[error("S3 {operation} on bucket {bucket:?} at {endpoint} failed: {detail}{hint}")]
    S3 {
        /// What was being done.
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
        /// The SDK's error with its context.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
    /// An object key that is not a relative path inside the stage.
    #[error(
        "invalid object key {key:?}: expected a relative path such as dag_run/<instance>/<date>/<run id>.csv, without `..`"
    )]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// The object does not exist.
    #[error("no object {key:?} in the stage ({store})")]
    NotFound {
        /// The key.
        key: String,
        /// The stage, described.
        store: String,
    },
    /// A local-folder failure.
    #[error(
        "local stage folder {path}: could not {operation}: {cause} (check [staging] local_directory)"
    )]
    Local {
        /// The folder or file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Where extracts are staged.
#[derive(Debug, Clone)]
pub enum ObjectStore {
    /// A local folder.
    Local {
        /// The folder.
        directory: PathBuf,
    },
    /// An S3 bucket.
    S3 {
        /// The SDK client.
        client: aws_sdk_s3::Client,
        /// The bucket.
        bucket: String,
        /// Key prefix of every object.
        prefix: String,
        /// The endpoint, for messages.
        endpoint: String,
    },
}

impl ObjectStore {
    /// Builds the store described by `settings`; makes no request yet.
    pub fn from_settings(settings: &StagingSettings) -> Result<Self, StageError> {
        match settings {
            StagingSettings::Local { directory } => Ok(ObjectStore::Local {
                directory: directory.clone(),
            }),
            StagingSettings::S3(s3) => s3_store(s3),
        }
    }

    /// A one-line description for messages, e.g. `s3://bucket/prefix at http://...`.
    pub fn describe(&self) -> String {
        match self {
            ObjectStore::Local { directory } => format!("local folder {}", directory.display()),
            ObjectStore::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => format!("s3://{bucket}/{prefix} at {endpoint}"),
        }
    }

    /// Checks that the stage can be written: the folder can be created and written, or the
    /// bucket exists and the credentials are accepted. Writes nothing that stays.
    pub async fn check(&self) -> Result<(), StageError> {
        match self {
            ObjectStore::Local { directory } => check_local(directory).await,
            ObjectStore::S3 {
                client,
                bucket,
                endpoint,
                ..
            } => client
                .head_bucket()
                .bucket(bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    let status = http_status(&e);
                    if status == Some(404) {
                        StageError::NoSuchBucket {
                            bucket: bucket.clone(),
                            endpoint: endpoint.clone(),
                        }
                    } else {
                        s3_error("HeadBucket", bucket, endpoint, status, &e)
                    }
                }),
        }
    }
}

/// S3 multipart part size: parts are buffered in memory one at a time, which bounds the memory
/// an upload takes whatever the extract's size (S3 requires at least 5 MiB but for the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Read size of local stage files.
const LOCAL_READ_SIZE: usize = 1024 * 1024;

impl ObjectStore {
    /// Starts writing a new object at `key`. Nothing is visible at `key` until
    /// [`ObjectWriter::finish`] succeeds; [`ObjectWriter::abort`] leaves nothing behind.
    pub async fn create(&self, key: &str) -> Result<ObjectWriter, StageError> {
        check_key(key)?;
        match self {
            ObjectStore::Local { directory } => {
                let path = directory.join(key);
                let parent = path.parent().unwrap_or(directory).to_path_buf();
                tokio::fs::create_dir_all(&parent)
                    .await
                    .map_err(|cause| StageError::Local {
                        path: parent.clone(),
                        operation: "create the folder",
                        cause,
                    })?;
                let temp = path.with_extension(format!("partial-{}", uuid::Uuid::now_v7()));
                let file =
                    tokio::fs::File::create(&temp)
                        .await
                        .map_err(|cause| StageError::Local {
                            path: temp.clone(),
                            operation: "create the file",
                            cause,
                        })?;
                Ok(ObjectWriter::Local {
                    file: tokio::io::BufWriter::with_capacity(LOCAL_READ_SIZE, file),
                    temp,
                    path,
                })
            }
            ObjectStore::S3 {
                client,
                bucket,
                prefix,
                endpoint,
            } => Ok(ObjectWriter::S3(S3Upload {
                client: client.clone(),
                bucket: bucket.clone(),
                key: format!("{prefix}{key}"),
                endpoint: endpoint.clone(),
                buffer: BytesMut::with_capacity(PART_SIZE),
                upload_id: None,
                parts: Vec::new(),
            })),
        }
    }

    /// Opens the object at `key` for reading, chunk by chunk.
    pub async fn open(&self, key: &str) -> Result<ObjectReader, StageError> {
        check_key(key)?;
        match self {
            ObjectStore::Local { directory } => {
                let path = directory.join(key);
                match tokio::fs::File::open(&path).await {
                    Ok(file) => Ok(ObjectReader::Local { file, path }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(StageError::NotFound {
                            key: key.to_string(),
                            store: self.describe(),
                        })
                    }
                    Err(cause) => Err(StageError::Local {
                        path,
                        operation: "open the file",
                        cause,
                    }),
                }
            }
            ObjectStore::S3 {
                client,
                bucket,
                prefix,
                endpoint,
            } => {
                let full_key = format!("{prefix}{key}");
                match client
                    .get_object()
                    .bucket(bucket)
                    .key(&full_key)
                    .send()
                    .await
                {
                    Ok(output) => Ok(ObjectReader::S3 {
                        body: output.body,
                        key: full_key,
                        bucket: bucket.clone(),
                        endpoint: endpoint.clone(),
                    }),
                    Err(e) => {
                        if e.as_service_error().is_some_and(|se| se.is_no_such_key()) {
                            Err(StageError::NotFound {
                                key: key.to_string(),
                                store: self.describe(),
                            })
                        } else {
                            let status = http_status(&e);
                            Err(s3_error("GetObject", bucket, endpoint, status, &e))
                        }
                    }
                }
            }
        }
    }
}

impl ObjectStore {
    /// Deletes the object at `key`; an object that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StageError> {
        check_key(key)?;
        match self {
            ObjectStore::Local { directory } => {
                let path = directory.join(key);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(cause) => Err(StageError::Local {
                        path,
                        operation: "delete the file",
                        cause,
                    }),
                }
            }
            ObjectStore::S3 {
                client,
                bucket,
                prefix,
                endpoint,
            } => client
                .delete_object()
                .bucket(bucket)
                .key(format!("{prefix}{key}"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    let status = http_status(&e);
                    s3_error("DeleteObject", bucket, endpoint, status, &e)
                }),
        }
    }
}

/// A new object being written.
#[derive(Debug)]
pub enum ObjectWriter {
    /// A temporary file, renamed into place by `finish`.
    Local {
        /// The open temporary file.
        file: tokio::io::BufWriter<tokio::fs::File>,
        /// Its path.
        temp: PathBuf,
        /// The final path.
        path: PathBuf,
    },
    /// An S3 upload: a single PUT when small, else a multipart upload.
    S3(S3Upload),
}

/// State of one S3 upload.
#[derive(Debug)]
pub struct S3Upload {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    endpoint: String,
    buffer: BytesMut,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl ObjectWriter {
    /// Appends `chunk` to the object.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        match self {
            ObjectWriter::Local { file, temp, .. } => {
                file.write_all(chunk)
                    .await
                    .map_err(|cause| StageError::Local {
                        path: temp.clone(),
                        operation: "write the file",
                        cause,
                    })
            }
            ObjectWriter::S3(upload) => {
                upload.buffer.extend_from_slice(chunk);
                if upload.buffer.len() >= PART_SIZE {
                    upload.send_part().await?;
                }
                Ok(())
            }
        }
    }

    /// Makes the object durable and visible at its key.
    pub async fn finish(self) -> Result<(), StageError> {
        match self {
            ObjectWriter::Local {
                mut file,
                temp,
                path,
            } => {
                let local = |operation, cause| StageError::Local {
                    path: temp.clone(),
                    operation,
                    cause,
                };
                file.flush().await.map_err(|e| local("write the file", e))?;
                file.get_ref()
                    .sync_all()
                    .await
                    .map_err(|e| local("sync the file to disk", e))?;
                tokio::fs::rename(&temp, &path)
                    .await
                    .map_err(|e| local("rename the file into place", e))
            }
            ObjectWriter::S3(mut upload) => upload.complete().await,
        }
    }

    /// Abandons the object: removes the temporary file or aborts the multipart upload.
    pub async fn abort(self) {
        match self {
            ObjectWriter::Local { temp, .. } => {
                let _ = tokio::fs::remove_file(&temp).await;
            }
            ObjectWriter::S3(upload) => {
                if let Some(id) = &upload.upload_id {
                    let _ = upload
                        .client
                        .abort_multipart_upload()
                        .bucket(&upload.bucket)
                        .key(&upload.key)
                        .upload_id(id)
                        .send()
                        .await;
                }
            }
        }
    }
}

impl S3Upload {
    fn error<E: std::error::Error + 'static>(
        &self,
        operation: &'static str,
        e: &SdkError<E, HttpResponse>,
    ) -> StageError {
        let status = http_status(e);
        if status == Some(404) {
            return StageError::NoSuchBucket {
                bucket: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
            };
        }
        s3_error(operation, &self.bucket, &self.endpoint, status, e)
    }

    async fn send_part(&mut self) -> Result<(), StageError> {
        if self.upload_id.is_none() {
            let created = self
                .client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("text/csv")
                .send()
                .await
                .map_err(|e| self.error("CreateMultipartUpload", &e))?;
            self.upload_id = created.upload_id;
        }
        let part_number = self.parts.len() as i32 + 1;
        let body = self.buffer.split().freeze();
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("UploadPart", &e))?;
        self.parts.push(
            CompletedPart::builder()
                .set_e_tag(uploaded.e_tag)
                .part_number(part_number)
                .build(),
        );
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), StageError> {
        if self.upload_id.is_none() {
            let body = self.buffer.split().freeze();
            return self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("text/csv")
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("PutObject", &e));
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("CompleteMultipartUpload", &e))
    }
}

/// An object being read.
#[derive(Debug)]
pub enum ObjectReader {
    /// A local file.
    Local {
        /// The open file.
        file: tokio::fs::File,
        /// Its path.
        path: PathBuf,
    },
    /// An S3 object body.
    S3 {
        /// The body stream.
        body: ByteStream,
        /// Its full key.
        key: String,
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
}

impl ObjectReader {
    /// The next chunk of the object, or None at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StageError> {
        match self {
            ObjectReader::Local { file, path } => {
                let mut buffer = BytesMut::with_capacity(LOCAL_READ_SIZE);
                let n = file
                    .read_buf(&mut buffer)
                    .await
                    .map_err(|cause| StageError::Local {
                        path: path.clone(),
                        operation: "read the file",
                        cause,
                    })?;
                Ok((n > 0).then(|| buffer.freeze()))
            }
            ObjectReader::S3 {
                body,
                key,
                bucket,
                endpoint,
            } => match body.next().await {
                None => Ok(None),
                Some(Ok(chunk)) => Ok(Some(chunk)),
                Some(Err(e)) => Err(StageError::S3 {
                    operation: "GetObject (reading the body)",
                    bucket: bucket.clone(),
                    endpoint: endpoint.clone(),
                    detail: format!("{key}: {}", DisplayErrorContext(&e)),
                    hint: "",
                }),
            },
        }
    }
}

/// Refuses keys that could leave the stage folder.
pub fn check_key(key: &str) -> Result<(), StageError> {
    let path = Path::new(key);
    let ok = !key.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(StageError::InvalidKey {
            key: key.to_string(),
        })
    }
}

fn s3_store(s3: &S3Settings) -> Result<ObjectStore, StageError> {
    let credentials = match (&s3.access_key_id, &s3.secret_access_key) {
        (Some(id), Some(secret)) => {
            Credentials::new(id, secret.expose(), None, None, "pipeline.conf")
        }
        _ => match (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => Credentials::new(
                id,
                secret,
                std::env::var("AWS_SESSION_TOKEN").ok(),
                None,
                "environment",
            ),
            _ => return Err(StageError::NoCredentials),
        },
    };
    let timeout = Duration::from_secs(s3.timeout_seconds);
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(s3.region.clone()))
        .credentials_provider(credentials)
        // The SDK's standard retry mode retries only transient failures (5xx, throttling,
        // timeouts, connection errors); its budget follows [retry].
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(s3.retry.attempts.min(u32::MAX as u64) as u32)
                .with_initial_backoff(Duration::from_secs(s3.retry.initial_backoff_seconds.max(1)))
                .with_max_backoff(Duration::from_secs(s3.retry.max_backoff_seconds.max(1))),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .operation_attempt_timeout(timeout)
                .build(),
        );
    let endpoint = match &s3.endpoint_url {
        Some(url) => {
            builder = builder
                .endpoint_url(url)
                .force_path_style(true)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
            url.clone()
        }
        None => format!("AWS region {}", s3.region),
    };
    Ok(ObjectStore::S3 {
        client: aws_sdk_s3::Client::from_conf(builder.build()),
        bucket: s3.bucket.clone(),
        prefix: s3.prefix.clone(),
        endpoint,
    })
}

/// The HTTP status of a failed S3 request, when the server answered at all.
fn http_status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

fn s3_error<E: std::error::Error + 'static>(
    operation: &'static str,
    bucket: &str,
    endpoint: &str,
    status: Option<u16>,
    error: &E,
) -> StageError {
    let hint = match status {
        Some(401 | 403) => {
            " (check the S3 credentials: [staging] access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        }
        Some(301 | 307 | 400) => " (check [staging] region and endpoint_url)",
        None => " (is the S3 endpoint reachable? check [staging] endpoint_url)",
        _ => "",
    };
    StageError::S3 {
        operation,
        bucket: bucket.to_string(),
        endpoint: endpoint.to_string(),
        detail: DisplayErrorContext(error).to_string(),
        hint,
    }
}

async fn check_local(directory: &Path) -> Result<(), StageError> {
    let local = |operation, cause| StageError::Local {
        path: directory.to_path_buf(),
        operation,
        cause,
    };
    tokio::fs::create_dir_all(directory)
        .await
        .map_err(|e| local("create the folder", e))?;
    let probe = directory.join(format!(".pipewatch-check-{}", uuid::Uuid::now_v7()));
    tokio::fs::write(&probe, b"pipewatch check-config\n")
        .await
        .map_err(|e| local("write a file in it", e))?;
    tokio::fs::remove_file(&probe)
        .await
        .map_err(|e| local("remove the probe file it wrote", e))?;
    Ok(())
}
