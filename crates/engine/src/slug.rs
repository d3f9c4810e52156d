//! Container names, made exactly as ynput's `ash` makes them, so that a host can switch
//! from `ash` to ashtray and find the same containers.

/// Prefix of every service container's name and hostname.
pub const CONTAINER_PREFIX: &str = "aysvc_";

/// `ash`'s slug: accents folded to ASCII, lower case, every run of characters other than
/// `[a-z0-9]` replaced by one `_`, no leading or trailing `_`.
pub fn slugify(text: &str) -> String {
    let folded = deunicode::deunicode(text).to_lowercase();
    let mut slug = String::with_capacity(folded.len());
    let mut pending_separator = false;
    for c in folded.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if pending_separator && !slug.is_empty() {
                slug.push('_');
            }
            pending_separator = false;
            slug.push(c);
        } else {
            pending_separator = true;
        }
    }
    slug
}

/// The container name (and container hostname) of a service: `aysvc_<slug of name>`.
pub fn container_name(service_name: &str) -> String {
    slugify(&format!("{CONTAINER_PREFIX}{service_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_ash_examples() {
        assert_eq!(container_name("ticker-a"), "aysvc_ticker_a");
        assert_eq!(container_name("Foo.Bar"), "aysvc_foo_bar");
        assert_eq!(container_name("ÄÖ sync 2"), "aysvc_ao_sync_2");
        assert_eq!(container_name("trailing--"), "aysvc_trailing");
        assert_eq!(container_name("a__b"), "aysvc_a_b");
    }

    #[test]
    fn a_name_without_letters_gives_only_the_prefix() {
        assert_eq!(container_name("!!!"), "aysvc");
    }

    proptest! {
        #[test]
        fn slug_is_always_a_valid_container_name(name in "\\PC{0,40}") {
            let slug = container_name(&name);
            prop_assert!(slug.starts_with("aysvc"));
            prop_assert!(slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            prop_assert!(!slug.ends_with('_'));
            prop_assert!(!slug.contains("__"));
        }
    }
}
