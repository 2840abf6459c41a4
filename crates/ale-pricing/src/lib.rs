//! `ale-pricing`: Black-76 price and Greeks, implied-vol inversion.
