//! The node_exporter textfile: written whole, and probed by check-config.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::error::MetricsError;

/// The file written in `textfile_directory`.
pub const TEXTFILE_NAME: &str = "pipewatch.prom";

/// Where a write goes before its rename: `.pipewatch.prom.<pid>.tmp` in the same directory (the
/// collector reads only `*.prom`; the process id keeps two writers apart).
fn temporary_path(directory: &Path) -> PathBuf {
    directory.join(format!(".{TEXTFILE_NAME}.{}.tmp", std::process::id()))
}

/// Writes `text` to `directory/pipewatch.prom` whole: into a temporary file in the same
/// directory, then renamed over the file. On failure the temporary file is removed and the old
/// file stays.
pub fn write_textfile(directory: &Path, text: &str) -> Result<PathBuf, MetricsError> {
    let path = directory.join(TEXTFILE_NAME);
    let temporary = temporary_path(directory);
    // No fsync: the rename makes the new file visible whole; after a crash of the machine the
    // next command writes it again (syncing cost 5 ms a write at 10,000 DAGs).
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        std::fs::rename(&temporary, &path)
    })();
    written.map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        MetricsError::Textfile {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// For check-config: whether pipewatch may write in `directory` (a probe file written and
/// removed, with the same temporary name the writes use).
pub fn check_textfile(directory: &Path) -> Result<String, MetricsError> {
    let probe = temporary_path(directory);
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| MetricsError::Textfile {
            path: directory.join(TEXTFILE_NAME),
            source,
        })?;
    Ok(format!(
        "{} is writable",
        directory.join(TEXTFILE_NAME).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_textfile_is_replaced_whole_and_a_missing_directory_is_one_error() {
        let dir = std::env::temp_dir().join(format!("pipewatch-textfile-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        write_textfile(&dir, "a 1\n").unwrap();
        let path = write_textfile(&dir, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b 2\n");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file is left"
        );
        let missing = dir.join("missing");
        let e = write_textfile(&missing, "c 3\n").unwrap_err().to_string();
        assert!(
            e.contains("missing/pipewatch.prom") && e.contains("textfile_directory"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
