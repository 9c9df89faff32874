//! S3, or any S3-compatible server, as the stage, through `aws-sdk-s3`. For a custom endpoint
//! the client uses path-style addressing and computes checksums only where the API requires
//! them, which S3-compatible servers handle reliably. Uploads buffer one part at a time
//! ([`PART_SIZE`]): a single PUT when the object is small, else a multipart upload that is
//! completed by `finish` and aborted by `abort`, so nothing half-written becomes visible.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::StageError;
use crate::config::S3Settings;

/// S3 multipart part size: parts are buffered in memory one at a time, which bounds the memory
/// an upload takes whatever the extract's size (S3 requires at least 5 MiB but for the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// A bucket (and key prefix) on an endpoint.
#[derive(Debug, Clone)]
pub struct S3Store {
    /// The SDK client.
    client: aws_sdk_s3::Client,
    /// The bucket.
    bucket: String,
    /// Key prefix of every object.
    prefix: String,
    /// The endpoint, for messages.
    endpoint: String,
}

impl S3Store {
    /// The client for `s3`; sends no S3 request yet. Credentials come from the configuration
    /// (`access_key_id` and `secret_access_key`), else from AWS's default provider chain, as the
    /// AWS CLI finds them: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, the
    /// shared config and credentials files with their profiles (`AWS_PROFILE`,
    /// `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, SSO-less), web identity (Kubernetes
    /// service accounts: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`), the container
    /// (ECS) endpoint, and the EC2 instance metadata service (skipped with
    /// `AWS_EC2_METADATA_DISABLED=true`). The chain is asked once here, so missing credentials
    /// fail before anything is read from Airflow.
    pub async fn new(s3: &S3Settings) -> Result<Self, StageError> {
        let credentials = match (&s3.access_key_id, &s3.secret_access_key) {
            (Some(id), Some(secret)) => SharedCredentialsProvider::new(Credentials::new(
                id,
                secret.expose(),
                None,
                None,
                "pipeline.conf",
            )),
            _ => {
                let chain = DefaultCredentialsChain::builder()
                    .region(Region::new(s3.region.clone()))
                    .build()
                    .await;
                if let Err(e) = chain.provide_credentials().await {
                    return Err(StageError::NoCredentials {
                        detail: one_line(&e),
                    });
                }
                SharedCredentialsProvider::new(chain)
            }
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
                    .with_initial_backoff(Duration::from_secs(
                        s3.retry.initial_backoff_seconds.max(1),
                    ))
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
        Ok(S3Store {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: s3.bucket.clone(),
            prefix: s3.prefix.clone(),
            endpoint,
        })
    }

    /// `s3://bucket/prefix at <endpoint>`.
    pub fn describe(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }

    fn error<E: std::error::Error + ProvideErrorMetadata + 'static>(
        &self,
        operation: &'static str,
        e: &SdkError<E, HttpResponse>,
    ) -> StageError {
        s3_error(operation, &self.bucket, &self.endpoint, http_status(e), e)
    }

    /// The bucket exists and the credentials are accepted (HeadBucket).
    pub async fn check(&self) -> Result<String, StageError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(format!("{} is writable", self.describe())),
            Err(e) if http_status(&e) == Some(404) => Err(StageError::NoSuchBucket {
                bucket: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
            }),
            Err(e) => Err(self.error("HeadBucket", &e)),
        }
    }

    /// A new upload to `key` (under the prefix); sends nothing yet.
    pub fn create(&self, key: &str) -> S3Upload {
        S3Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: format!("{}{key}", self.prefix),
            endpoint: self.endpoint.clone(),
            buffer: BytesMut::with_capacity(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
        }
    }

    /// The object's body, or None when there is no such key.
    pub async fn open(&self, key: &str) -> Result<Option<S3Reader>, StageError> {
        let full_key = format!("{}{key}", self.prefix);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(S3Reader {
                body: output.body,
                key: full_key,
                bucket: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.error("GetObject", &e)),
        }
    }

    /// Deletes the object (S3 answers success for a key that is already gone).
    pub async fn delete(&self, key: &str) -> Result<(), StageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(format!("{}{key}", self.prefix))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("DeleteObject", &e))
    }
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

impl S3Upload {
    /// Appends bytes; sends a part whenever [`PART_SIZE`] bytes are buffered.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= PART_SIZE {
            self.send_part().await?;
        }
        Ok(())
    }

    /// Makes the object visible: one PUT, or the multipart upload completed.
    pub async fn finish(mut self) -> Result<(), StageError> {
        self.complete().await
    }

    /// Aborts a multipart upload that was started.
    pub async fn abort(self) {
        if let Some(id) = &self.upload_id {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(id)
                .send()
                .await;
        }
    }
    fn error<E: std::error::Error + ProvideErrorMetadata + 'static>(
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

/// An S3 object body being read.
#[derive(Debug)]
pub struct S3Reader {
    body: ByteStream,
    key: String,
    bucket: String,
    endpoint: String,
}

impl S3Reader {
    /// The next chunk, or None at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StageError> {
        match self.body.next().await {
            None => Ok(None),
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(e)) => Err(StageError::S3 {
                operation: "GetObject (reading the body)",
                bucket: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
                detail: format!("{}: {}", self.key, one_line(&e)),
                hint: "",
            }),
        }
    }
}

/// The HTTP status of a failed S3 request, when the server answered at all.
fn http_status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// An error and its causes as one line of text: each cause's message once, joined by `: `
/// (the SDK's own rendering, `DisplayErrorContext`, ends in a multi-line debug dump).
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// A failed S3 request in words: the HTTP status, S3's error code and message when it sent
/// them, else the causes (a refused connection, a timeout).
fn describe<E: std::error::Error + ProvideErrorMetadata + 'static>(
    status: Option<u16>,
    error: &SdkError<E, HttpResponse>,
) -> String {
    let detail = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => one_line(error),
    };
    match status {
        Some(status) => {
            let reason = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            format!("HTTP {status} {reason}: {detail}")
        }
        None => detail,
    }
}

fn s3_error<E: std::error::Error + ProvideErrorMetadata + 'static>(
    operation: &'static str,
    bucket: &str,
    endpoint: &str,
    status: Option<u16>,
    error: &SdkError<E, HttpResponse>,
) -> StageError {
    let hint = match status {
        Some(401 | 403) => {
            " (check the S3 credentials: [staging] access_key_id and secret_access_key, or the AWS credentials pipewatch found: environment, AWS_PROFILE and the shared credentials file, web identity, container or instance role)"
        }
        Some(301 | 307 | 400) => " (check [staging] region and endpoint_url)",
        None => " (is the S3 endpoint reachable? check [staging] endpoint_url)",
        _ => "",
    };
    StageError::S3 {
        operation,
        bucket: bucket.to_string(),
        endpoint: endpoint.to_string(),
        detail: describe(status, error),
        hint,
    }
}
