//! The stage: where extracts are kept between extract and load.
//!
//! One type, [`ObjectStore`], with two implementations: a local folder (the default, so no cloud
//! is needed) and S3 or any S3-compatible server through `aws-sdk-s3`. For a custom endpoint the
//! client uses path-style addressing and computes checksums only where the API requires them,
//! which S3-compatible servers handle reliably.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;

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
                    let status = e.raw_response().map(|r| r.status().as_u16());
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
