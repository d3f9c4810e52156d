//! Tauri's build step (config, capabilities, icons, the embedded `ui/`), only for the tray
//! app: the headless build (`--no-default-features`) must not need Tauri at all.

fn main() {
    #[cfg(feature = "gui")]
    {
        // The window embeds ../ui: rebuild when a page changes.
        println!("cargo:rerun-if-changed=../ui");
        println!("cargo:rerun-if-changed=../icons");
        tauri_build::build();
    }
}
