"""The notifier: signed webhooks to agencies, with retries and dead letters."""
