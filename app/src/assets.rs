//! The compiled stylesheet, embedded so the binary is the whole deployment (Lambda ships it
//! alone). `build.rs` compiles `style/tailwind.css` with the Tailwind CLI into `OUT_DIR`.

/// The minified CSS.
pub const CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/app.css"));

/// Where the page links the CSS. The name carries a hash of the content, so it can be cached
/// for a year and a new build is never served stale CSS.
pub const CSS_PATH: &str = concat!("/pkg/app-", env!("APP_CSS_HASH"), ".css");

/// The same, relative to the page's `<base href>` (see [`crate::BasePath`]).
pub const CSS_HREF: &str = concat!("pkg/app-", env!("APP_CSS_HASH"), ".css");

/// False when the build could not run Tailwind and embedded the small fallback stylesheet.
pub const CSS_IS_TAILWIND: bool = cfg!(not(css_fallback));
