//! Leptos pages and server functions. The web form lands here (see ARCHITECTURE.md).
