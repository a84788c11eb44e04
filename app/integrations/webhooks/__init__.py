"""Outbound webhooks: endpoints a registrant's administrator subscribes, deliveries made from
the outbox by the worker, signed per Standard Webhooks (https://www.standardwebhooks.com)."""
