//! A local folder as the stage (the default). An object is a file under the folder, written to
//! a temporary name, synced to disk and renamed into place, so a reader never sees half of it.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::StageError;

/// Read and write buffer size of stage files.
const BUFFER_SIZE: usize = 1024 * 1024;

/// The folder.
#[derive(Debug, Clone)]
pub struct LocalStore {
    directory: PathBuf,
}

fn local_error(
    path: PathBuf,
    operation: &'static str,
) -> impl FnOnce(std::io::Error) -> StageError {
    move |cause| StageError::Local {
        path,
        operation,
        cause,
    }
}

impl LocalStore {
    /// The store in `directory` (absolute); touches nothing yet.
    pub fn new(directory: PathBuf) -> Self {
        LocalStore { directory }
    }

    /// `local folder <path>`.
    pub fn describe(&self) -> String {
        format!("local folder {}", self.directory.display())
    }

    /// The folder can be written, or created and then written, and nothing is left behind
    /// (check-config changes nothing): when the folder exists, a probe file is written in it
    /// and removed; when it does not exist yet, a probe folder is created in its nearest
    /// existing ancestor and removed. Returns what was found, for check-config's line.
    pub async fn check(&self) -> Result<String, StageError> {
        let directory = &self.directory;
        let mut existing = directory.as_path();
        loop {
            match tokio::fs::metadata(existing).await {
                Ok(meta) if meta.is_dir() => break,
                Ok(_) => {
                    return Err(StageError::Local {
                        path: existing.to_path_buf(),
                        operation: "use it as a folder",
                        cause: std::io::Error::other("it exists and is not a folder"),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match existing.parent() {
                    Some(parent) => existing = parent,
                    None => break,
                },
                Err(e) => {
                    return Err(local_error(existing.to_path_buf(), "look at the folder")(e));
                }
            }
        }
        let probe = existing.join(format!(".pipewatch-check-{}", uuid::Uuid::now_v7()));
        if existing == directory.as_path() {
            tokio::fs::write(&probe, b"pipewatch check-config\n")
                .await
                .map_err(local_error(directory.clone(), "write a file in it"))?;
            tokio::fs::remove_file(&probe).await.map_err(local_error(
                probe.clone(),
                "remove the probe file check-config wrote (delete it by hand)",
            ))?;
            Ok(format!("{} is writable", self.describe()))
        } else {
            tokio::fs::create_dir(&probe).await.map_err(local_error(
                existing.to_path_buf(),
                "create a folder in it (the stage folder does not exist yet and could not be created)",
            ))?;
            tokio::fs::remove_dir(&probe).await.map_err(local_error(
                probe.clone(),
                "remove the probe folder check-config created (delete it by hand)",
            ))?;
            Ok(format!(
                "{} does not exist yet; the first extract creates it ({} is writable)",
                self.describe(),
                existing.display()
            ))
        }
    }

    /// A temporary file beside the object's path.
    pub async fn create(&self, key: &str) -> Result<LocalWriter, StageError> {
        let path = self.directory.join(key);
        let parent = path.parent().unwrap_or(&self.directory).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(local_error(parent.clone(), "create the folder"))?;
        let temp = path.with_extension(format!("partial-{}", uuid::Uuid::now_v7()));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(local_error(temp.clone(), "create the file"))?;
        Ok(LocalWriter {
            file: tokio::io::BufWriter::with_capacity(BUFFER_SIZE, file),
            temp,
            path,
        })
    }

    /// The object's file, or None when there is none.
    pub async fn open(&self, key: &str) -> Result<Option<LocalReader>, StageError> {
        let path = self.directory.join(key);
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Some(LocalReader { file, path })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(cause) => Err(local_error(path, "open the file")(cause)),
        }
    }

    /// Removes the temporary files (`*.partial-<uuid>`) of writes that never finished (the
    /// process was killed mid-extract); returns how many. Call only under the run lock, when
    /// no other pipewatch can be writing.
    pub async fn remove_partial_files(&self) -> Result<usize, StageError> {
        let mut removed = 0;
        let mut folders = vec![self.directory.clone()];
        while let Some(folder) = folders.pop() {
            let mut entries = match tokio::fs::read_dir(&folder).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(cause) => return Err(local_error(folder, "list the folder")(cause)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(local_error(folder.clone(), "list the folder"))?
            {
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .await
                    .map_err(local_error(path.clone(), "look at the file"))?;
                if kind.is_dir() {
                    folders.push(path);
                } else if path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.starts_with("partial-"))
                {
                    tokio::fs::remove_file(&path)
                        .await
                        .map_err(local_error(path.clone(), "delete the unfinished file"))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Removes the object's file, if it is there.
    pub async fn delete(&self, key: &str) -> Result<(), StageError> {
        let path = self.directory.join(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(cause) => Err(local_error(path, "delete the file")(cause)),
        }
    }
}

/// A temporary file, renamed into place by [`LocalWriter::finish`].
#[derive(Debug)]
pub struct LocalWriter {
    file: tokio::io::BufWriter<tokio::fs::File>,
    temp: PathBuf,
    path: PathBuf,
}

impl LocalWriter {
    /// Appends bytes.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        self.file
            .write_all(chunk)
            .await
            .map_err(local_error(self.temp.clone(), "write the file"))
    }

    /// Flushes, syncs to disk and renames into place.
    pub async fn finish(mut self) -> Result<(), StageError> {
        self.file
            .flush()
            .await
            .map_err(local_error(self.temp.clone(), "write the file"))?;
        self.file
            .get_ref()
            .sync_all()
            .await
            .map_err(local_error(self.temp.clone(), "sync the file to disk"))?;
        tokio::fs::rename(&self.temp, &self.path)
            .await
            .map_err(local_error(self.temp.clone(), "rename the file into place"))
    }

    /// Removes the temporary file.
    pub async fn abort(self) {
        let _ = tokio::fs::remove_file(&self.temp).await;
    }
}

/// An open object file.
#[derive(Debug)]
pub struct LocalReader {
    file: tokio::fs::File,
    path: PathBuf,
}

impl LocalReader {
    /// The next chunk, or None at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StageError> {
        let mut buffer = BytesMut::with_capacity(BUFFER_SIZE);
        let n = self
            .file
            .read_buf(&mut buffer)
            .await
            .map_err(local_error(self.path.clone(), "read the file"))?;
        Ok((n > 0).then(|| buffer.freeze()))
    }
}
