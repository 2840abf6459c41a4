//! `ale surface ...`: fit implied-vol surfaces and report arbitrage.
