//! The stage: where extracts are kept between extract and load.
//!
//! One type, [`ObjectStore`], with two implementations, each in its own module: a local folder
//! ([`local`], the default, so no cloud is needed) and S3 or any S3-compatible server through
//! `aws-sdk-s3` ([`s3`]). This module only dispatches: every key is checked here once, and each
//! operation is one `match` that hands it to the implementation. Writers make an object visible
//! only when it is complete ([`ObjectWriter::finish`]); readers stream it chunk by chunk.

pub mod local;
pub mod s3;

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use crate::config::StagingSettings;

/// A stage operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// No S3 credentials in the configuration or the environment.
    #[error(
        "no S3 credentials: set [staging] access_key_id and secret_access_key (or secret_access_key_file, or PIPEWATCH__STAGING__ACCESS_KEY_ID and PIPEWATCH__STAGING__SECRET_ACCESS_KEY), or give them the way AWS tools find them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE with ~/.aws/credentials, web identity, a container or instance role): {detail}"
    )]
    NoCredentials {
        /// What AWS's default provider chain said.
        detail: String,
    },
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
    #[error("no object {key:?} in the stage ({store}){hint}")]
    NotFound {
        /// The key.
        key: String,
        /// The stage, described.
        store: String,
        /// What may explain it (a local stage is one host's folder), or nothing.
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
    Local(local::LocalStore),
    /// An S3 bucket.
    S3(s3::S3Store),
}

impl ObjectStore {
    /// Builds the store described by `settings`; sends no S3 request yet (for S3 without keys in
    /// the configuration, asks AWS's credential chain once).
    pub async fn from_settings(settings: &StagingSettings) -> Result<Self, StageError> {
        Ok(match settings {
            StagingSettings::Local { directory } => {
                ObjectStore::Local(local::LocalStore::new(directory.clone()))
            }
            StagingSettings::S3(settings) => ObjectStore::S3(s3::S3Store::new(settings).await?),
        })
    }

    /// A one-line description for messages, e.g. `s3://bucket/prefix at http://...`.
    pub fn describe(&self) -> String {
        match self {
            ObjectStore::Local(store) => store.describe(),
            ObjectStore::S3(store) => store.describe(),
        }
    }

    /// Checks that the stage can be written: the folder can be created and written, or the
    /// bucket exists and the credentials are accepted. Changes nothing (creates no folder,
    /// leaves no file). Returns a one-line description of what was found.
    pub async fn check(&self) -> Result<String, StageError> {
        match self {
            ObjectStore::Local(store) => store.check().await,
            ObjectStore::S3(store) => store.check().await,
        }
    }

    /// Removes what writes that never finished left behind: a local folder's `*.partial-*`
    /// files; returns how many. (An S3 upload that never completed stays invisible, and the
    /// bucket's lifecycle rule `AbortIncompleteMultipartUpload` removes its parts.) Call only
    /// under the run lock.
    pub async fn remove_unfinished(&self) -> Result<usize, StageError> {
        match self {
            ObjectStore::Local(store) => store.remove_partial_files().await,
            ObjectStore::S3(_) => Ok(0),
        }
    }

    /// Starts writing a new object at `key`. Nothing is visible at `key` until
    /// [`ObjectWriter::finish`] succeeds; [`ObjectWriter::abort`] leaves nothing behind.
    pub async fn create(&self, key: &str) -> Result<ObjectWriter, StageError> {
        check_key(key)?;
        Ok(match self {
            ObjectStore::Local(store) => ObjectWriter::Local(store.create(key).await?),
            ObjectStore::S3(store) => ObjectWriter::S3(store.create(key)),
        })
    }

    /// Opens the object at `key` for reading, chunk by chunk.
    pub async fn open(&self, key: &str) -> Result<ObjectReader, StageError> {
        check_key(key)?;
        let found = match self {
            ObjectStore::Local(store) => store.open(key).await?.map(ObjectReader::Local),
            ObjectStore::S3(store) => store.open(key).await?.map(ObjectReader::S3),
        };
        found.ok_or_else(|| StageError::NotFound {
            key: key.to_string(),
            store: self.describe(),
            hint: match self {
                ObjectStore::Local(_) => {
                    ": a local stage is a folder of one host, so an extract staged on another host (an Airflow task that ran on another worker) is not here; run extract and load on one host (or as one `pipewatch run`), or stage in S3 ([staging] backend = s3)"
                }
                ObjectStore::S3(_) => "",
            },
        })
    }

    /// Deletes the object at `key`; an object that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StageError> {
        check_key(key)?;
        match self {
            ObjectStore::Local(store) => store.delete(key).await,
            ObjectStore::S3(store) => store.delete(key).await,
        }
    }
}

/// A new object being written.
#[derive(Debug)]
pub enum ObjectWriter {
    /// A temporary file, renamed into place by `finish`.
    Local(local::LocalWriter),
    /// An S3 upload: a single PUT when small, else a multipart upload.
    S3(s3::S3Upload),
}

impl ObjectWriter {
    /// Appends `chunk` to the object.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        match self {
            ObjectWriter::Local(writer) => writer.write(chunk).await,
            ObjectWriter::S3(upload) => upload.write(chunk).await,
        }
    }

    /// Makes the object durable and visible at its key.
    pub async fn finish(self) -> Result<(), StageError> {
        match self {
            ObjectWriter::Local(writer) => writer.finish().await,
            ObjectWriter::S3(upload) => upload.finish().await,
        }
    }

    /// Abandons the object: removes the temporary file or aborts the multipart upload.
    pub async fn abort(self) {
        match self {
            ObjectWriter::Local(writer) => writer.abort().await,
            ObjectWriter::S3(upload) => upload.abort().await,
        }
    }
}

/// An object being read.
#[derive(Debug)]
pub enum ObjectReader {
    /// A local file.
    Local(local::LocalReader),
    /// An S3 object body.
    S3(s3::S3Reader),
    /// The bytes of an object as an extract writes it (`run` loads while it extracts); the end
    /// of the feed is not proof that the object is whole: the extract's registration is.
    Feed(FeedReader),
}

/// The bytes of an object as an extract writes them.
#[derive(Debug)]
pub struct FeedReader {
    first: Option<Bytes>,
    rest: tokio::sync::mpsc::Receiver<Bytes>,
}

impl FeedReader {
    /// Waits for the extract's first bytes: by then it has read all it reads from the warehouse
    /// (the watermark, the unfinished runs), so a load may lock the history tables. None when
    /// the extract ended without sending any.
    pub async fn first_bytes(mut feed: tokio::sync::mpsc::Receiver<Bytes>) -> Option<Self> {
        let first = feed.recv().await?;
        Some(FeedReader {
            first: Some(first),
            rest: feed,
        })
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        match self.first.take() {
            Some(first) => Some(first),
            None => self.rest.recv().await,
        }
    }

    /// The feed as it comes (the task object: its turn comes after the runs).
    pub fn wrap(feed: tokio::sync::mpsc::Receiver<Bytes>) -> Self {
        FeedReader {
            first: None,
            rest: feed,
        }
    }
}

impl ObjectReader {
    /// The next chunk of the object, or None at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StageError> {
        match self {
            ObjectReader::Local(reader) => reader.next_chunk().await,
            ObjectReader::S3(reader) => reader.next_chunk().await,
            ObjectReader::Feed(feed) => Ok(feed.next_chunk().await),
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
