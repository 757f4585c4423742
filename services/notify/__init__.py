"""Notify service: transactional messages, campaigns, credits and partner webhooks."""
