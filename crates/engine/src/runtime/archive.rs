//! Image archives for hosts without a registry: loading one as `docker save` writes it,
//! and writing one with the images a host's services use (`ashtray images import` /
//! `export`). Through the engine's API, so Docker and Podman alike, and streamed: an
//! archive of several GB is never held in memory.

use std::path::{Path, PathBuf};

use bollard::query_parameters::ImportImageOptions;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{Runtime, RuntimeError};

/// What went wrong with an archive, naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    // The io errors are part of the words, not a `source`: shown once.
    #[error("cannot read {path}: {error}. Give the path of an image archive written by `docker save` or `ashtray images export`")]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the {kind} engine could not load {path} as an image archive: {reason}. Is it a whole archive written by `docker save -o FILE IMAGE...` or `ashtray images export -o FILE` (not compressed, not cut short)?")]
    NotAnArchive {
        kind: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "cannot write {path}: {error}. Choose a writable place with room for the images (-o FILE)"
    )]
    Unwritable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no image to export: {0}")]
    NothingToExport(String),
    #[error("{count} image(s) are not on the {kind} engine, so cannot be exported: {images}. Let the host pull them (its services start once they are) or `docker pull` them, then export again")]
    Missing {
        kind: &'static str,
        count: usize,
        images: String,
    },
    #[error(transparent)]
    Engine(#[from] RuntimeError),
}

impl Runtime {
    /// Loads the archive at `path`; the images it held, as the engine names them.
    pub async fn import_archive(&self, path: &Path) -> Result<Vec<String>, ArchiveError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|error| ArchiveError::Unreadable {
                path: path.to_path_buf(),
                error,
            })?;
        self.count();
        let body = tokio_util::io::ReaderStream::new(file);
        let mut answers = self.docker.import_image_stream(
            ImportImageOptions {
                quiet: true,
                ..Default::default()
            },
            body,
            None,
        );
        let mut loaded = Vec::new();
        while let Some(answer) = answers.next().await {
            let not_an_archive = |reason: String| ArchiveError::NotAnArchive {
                kind: self.endpoint.kind(),
                path: path.to_path_buf(),
                reason,
            };
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) if super::is_connection_error(&error) => {
                    return Err(self.api_error("loading images into", "the engine")(error).into())
                }
                Err(error) => return Err(not_an_archive(super::engine_words(error))),
            };
            if let Some(message) = answer.error_detail.and_then(|d| d.message) {
                return Err(not_an_archive(message));
            }
            loaded.extend(answer.stream.as_deref().and_then(loaded_image));
        }
        Ok(loaded)
    }

    /// Writes `images` into one archive at `path` (whole or not at all: it is written
    /// beside it and renamed when complete).
    pub async fn export_archive(&self, images: &[String], path: &Path) -> Result<(), ArchiveError> {
        if images.is_empty() {
            return Err(ArchiveError::NothingToExport(
                "the list of images is empty".to_string(),
            ));
        }
        let mut missing = Vec::new();
        for image in images {
            if !self.has_image(image).await? {
                missing.push(image.as_str());
            }
        }
        if !missing.is_empty() {
            return Err(ArchiveError::Missing {
                kind: self.endpoint.kind(),
                count: missing.len(),
                images: missing.join(", "),
            });
        }
        let unwritable = |error| ArchiveError::Unwritable {
            path: path.to_path_buf(),
            error,
        };
        let partial = partial_path(path);
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(unwritable)?;
        let written = async {
            self.count();
            let names: Vec<&str> = images.iter().map(String::as_str).collect();
            let mut chunks = self.docker.export_images(&names);
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(self.api_error("exporting images from", "the engine"))?;
                file.write_all(&chunk).await.map_err(unwritable)?;
            }
            file.flush().await.map_err(unwritable)?;
            file.sync_all().await.map_err(unwritable)?;
            tokio::fs::rename(&partial, path).await.map_err(unwritable)
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        written
    }
}

/// `FILE.partial` beside `FILE`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// The image named by one line of the engine's answer to a load: Docker says `Loaded
/// image: NAME` (or `Loaded image ID: sha256:...` for an untagged one).
fn loaded_image(line: &str) -> Option<String> {
    let line = line.trim();
    line.strip_prefix("Loaded image: ")
        .or_else(|| line.strip_prefix("Loaded image ID: "))
        .or_else(|| line.strip_prefix("Loaded image(s): "))
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_load_answer_names_the_images() {
        assert_eq!(
            loaded_image("Loaded image: ashtest/ticker:1\n").as_deref(),
            Some("ashtest/ticker:1")
        );
        assert_eq!(
            loaded_image("Loaded image ID: sha256:abc").as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(loaded_image("Loading layer 1/2"), None);
    }

    #[test]
    fn an_export_is_written_beside_its_file_first() {
        assert_eq!(
            partial_path(Path::new("/tmp/out/images.tar")),
            Path::new("/tmp/out/images.tar.partial")
        );
    }
}
