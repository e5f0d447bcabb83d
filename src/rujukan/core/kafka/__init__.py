"""Kafka plumbing shared by the relay and every consumer: client factories, topics, dead letters."""
