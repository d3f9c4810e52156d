//! Where the window saves what the page offers as a file (the log pane's Download).
//!
//! With no download handler, wry leaves the folder to WebKitGTK and the page's file went
//! nowhere a user would look (tests/tests/gui.rs found none under the user's home). The
//! window names the folder itself: the user's download folder (`XDG_DOWNLOAD_DIR`), else
//! `~/Downloads`, as a file manager and a browser would, and never overwrites a file.

use std::path::{Path, PathBuf};

/// The folder downloads go to: the one the desktop names, else `~/Downloads`.
pub fn folder() -> Option<PathBuf> {
    directories::UserDirs::new().map(|dirs| {
        dirs.download_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.home_dir().join("Downloads"))
    })
}

/// `name` in `folder`, with " (1)", " (2)"… before its extension while such a file is
/// there already (as browsers do), so a second download never replaces the first.
pub fn destination(folder: &Path, name: &str, exists: impl Fn(&Path) -> bool) -> PathBuf {
    // Only the file name: a name from the page never picks another folder.
    let name = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "download".to_string());
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    let mut path = folder.join(&name);
    let mut counter = 1;
    while exists(&path) {
        path = folder.join(format!("{stem} ({counter}){ext}"));
        counter += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_download_keeps_its_name_and_never_replaces_a_file() {
        let folder = Path::new("/home/artist/Downloads");
        let none = |_: &Path| false;
        assert_eq!(
            destination(folder, "tick-2026.log", none),
            folder.join("tick-2026.log")
        );
        let taken: HashSet<PathBuf> = [folder.join("tick.log"), folder.join("tick (1).log")]
            .into_iter()
            .collect();
        assert_eq!(
            destination(folder, "tick.log", |p| taken.contains(p)),
            folder.join("tick (2).log")
        );
        let plain: HashSet<PathBuf> = [folder.join("notes")].into_iter().collect();
        assert_eq!(
            destination(folder, "notes", |p| plain.contains(p)),
            folder.join("notes (1)")
        );
    }

    #[test]
    fn a_name_from_the_page_cannot_pick_another_folder() {
        let folder = Path::new("/home/artist/Downloads");
        let none = |_: &Path| false;
        assert_eq!(
            destination(folder, "../../.bashrc", none),
            folder.join(".bashrc")
        );
        assert_eq!(
            destination(folder, "/etc/passwd", none),
            folder.join("passwd")
        );
        assert_eq!(destination(folder, "", none), folder.join("download"));
        assert_eq!(destination(folder, "..", none), folder.join("download"));
    }
}
