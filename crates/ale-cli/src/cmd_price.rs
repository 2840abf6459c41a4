//! `ale price` and `ale iv`: Black-76 streamed over JSON lines (formats.md).
