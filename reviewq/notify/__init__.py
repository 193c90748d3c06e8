"""Reaching reviewers where they are: approval notifications, escalation, on-call and the digest.

`settings` checks [notify]; `message` renders what is sent (pure); `channels` speak SMTP, Slack,
signed webhooks and a local log; `sender` drains the notification outbox after commit. The
state (who was told what, when to escalate) lives in reviewq.domain.notifications.
"""
