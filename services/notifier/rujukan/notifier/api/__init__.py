"""The notifier API: an agency manages its own subscription and reads its delivery log."""
