//! Shows a [`Note`] on the desktop through the freedesktop notification service over
//! D-Bus (`notify-rust`, no GTK). A desktop without one loses the note, not the host: it
//! is in the log already.

use super::notify::Note;

pub fn show(note: Note) {
    tokio::spawn(async move {
        let shown = notify_rust::Notification::new()
            .appname("ashtray")
            .summary(&note.title)
            .body(&note.body)
            .show_async()
            .await;
        if let Err(error) = shown {
            tracing::debug!("no desktop notification: {error}");
        }
    });
}
