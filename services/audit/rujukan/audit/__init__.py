"""The audit replay: verify, rebuild, compare and export the referral event log (rujukan audit replay)."""
