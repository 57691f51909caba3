"""Event webhooks of the email providers (ESPs) that teams send through: SendGrid, Mailgun, Postmark and Amazon SES
(through SNS). docs/esp-webhooks.md is the operator's guide; this package, in the order a request meets it:

- `views.py`: the endpoint `/webhooks/esp/<provider>/<key>` — rate and size limits, the webhook found by its URL key;
- `verify.py`: proving a request is the provider's (SendGrid ECDSA, Mailgun HMAC with fresh single-use tokens,
  Postmark basic auth, SNS certificate signatures and the configured topic), and the optional IP allowlist;
- `providers.py`: each provider's payload turned into `EspEvent`s — what happened, to which Message-ID, when;
- `events.py`: the service that records them through the same functions as the built-in tracking and inbound
  mail (`services.event_record`, `contact_bounced`, `contact_unsubscribed`, `tracking.hit_classify`), once per
  provider event id.
"""
