//! `ale-risk`: margin policies and the batch risk engine.
