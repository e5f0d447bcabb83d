"""The referral service: the agency-facing write side (referrals, lifecycle, sealed data, outbox)."""
