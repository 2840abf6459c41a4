//! `ale-surface`: implied-volatility surfaces.
