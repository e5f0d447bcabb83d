"""Shared contract and plumbing for every Rujukan service.

This package holds what all services use: the Avro schema catalogue and codec, settings, Kafka client
factories, the dead-letter publisher and the embedded broker runner. It imports nothing from any service
(`rujukan.referral`, `rujukan.tracker`, `rujukan.notifier`, ...); services talk only through the topics.
"""
