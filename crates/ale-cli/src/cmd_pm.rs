//! `ale pm ...`: Derive PMRM_2 / Deribit portfolio-margin conformance.
