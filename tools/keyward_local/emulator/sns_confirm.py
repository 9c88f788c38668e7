"""SNS subscription confirmation as AWS does it, where moto confirms every subscription at once
(moto/sns/models.py `SNSBackend.subscribe`: `PendingConfirmation: False`, and `confirm_subscription`
does nothing). An e-mail subscription (`email`, `email-json`) stays pending until the person follows
the confirmation mail's link, which calls ConfirmSubscription with the mail's token: until then
ListSubscriptions and ListSubscriptionsByTopic show its ARN as `PendingConfirmation` and
GetSubscriptionAttributes says `PendingConfirmation: true`, and a wrong token is refused
(InvalidParameter). The model: "Confirming your Amazon SNS subscription" and ConfirmSubscription in
the Amazon SNS API Reference (https://docs.aws.amazon.com/sns/latest/api/API_ConfirmSubscription.html).

No mail is sent: GET /_keyward/sns-confirmations lists the pending subscriptions with their tokens,
as the person would read them in the mail. Other protocols (sqs, lambda, http) are left as moto
confirms them. Each assignment replaces a method of moto's classes: the `# type: ignore` next to
each says so."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.sns.exceptions import SNSInvalidParameter, SNSNotFoundError
from moto.sns.models import SNSBackend, Subscription
from moto.sns.responses import SNSResponse

#: The protocols AWS confirms through a mail (the others are confirmed by their endpoint or at once).
MAILED_PROTOCOLS = ("email", "email-json")
#: What ListSubscriptions(ByTopic) shows in place of a pending subscription's ARN.
PENDING = "PendingConfirmation"

#: subscription ARN → the token of its confirmation mail, while it is pending.
_TOKENS: dict[str, str] = {}
_LOCK = threading.Lock()


def _listed(subscription: Subscription) -> dict[str, Any]:
    """A subscription as the List operations show it: a pending one without its ARN."""
    with _LOCK:
        pending = subscription.arn in _TOKENS
    return {
        "SubscriptionArn": PENDING if pending else subscription.arn,
        "Owner": subscription.owner,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "TopicArn": subscription.topic.arn,
    }


def patch_sns_confirmation() -> None:
    """Makes mailed subscriptions pending until ConfirmSubscription with their token."""
    original_subscribe = SNSBackend.subscribe

    def subscribe(self: SNSBackend, topic_arn: str, endpoint: str, protocol: str) -> Subscription:
        """SNSBackend.subscribe: a new mailed subscription starts pending, with a fresh token."""
        existing = self._find_subscription(topic_arn, endpoint, protocol)
        subscription = original_subscribe(self, topic_arn, endpoint, protocol)
        if existing is None and protocol in MAILED_PROTOCOLS:
            subscription.attributes["PendingConfirmation"] = "true"
            subscription.attributes["ConfirmationWasAuthenticated"] = "false"
            with _LOCK:
                _TOKENS[subscription.arn] = secrets.token_hex(32)
        return subscription

    # The responses, not the backend: moto's own Topic.publish reads the backend's list.
    def list_subscriptions(self: SNSResponse) -> ActionResult:
        """SNSResponse.list_subscriptions, pending ones shown as AWS shows them."""
        found, next_token = self.backend.list_subscriptions(next_token=self._get_param("NextToken"))
        return ActionResult({"Subscriptions": [_listed(s) for s in found], "NextToken": next_token})

    def list_subscriptions_by_topic(self: SNSResponse) -> ActionResult:
        """SNSResponse.list_subscriptions_by_topic, pending ones shown as AWS shows them."""
        found, next_token = self.backend.list_subscriptions_by_topic(
            self._get_param("TopicArn"), next_token=self._get_param("NextToken")
        )
        return ActionResult({"Subscriptions": [_listed(s) for s in found], "NextToken": next_token})

    def confirm_subscription(self: SNSResponse) -> ActionResult:
        """SNSResponse.confirm_subscription: confirms the topic's subscription whose token it is."""
        topic_arn = self._get_param("TopicArn")
        token = self._get_param("Token")
        authenticated = str(self._get_param("AuthenticateOnUnsubscribe") or "false").lower() == "true"
        if topic_arn not in self.backend.topics:
            raise SNSNotFoundError("Topic does not exist")
        with _LOCK:
            arn = next((a for a, t in _TOKENS.items() if t == token), None)
            subscription = self.backend.subscriptions.get(arn) if arn else None
            if arn is None or subscription is None or subscription.topic.arn != topic_arn:
                raise SNSInvalidParameter("Invalid parameter: Token")
            del _TOKENS[arn]
        subscription.attributes["PendingConfirmation"] = "false"
        subscription.attributes["ConfirmationWasAuthenticated"] = "true" if authenticated else "false"
        return ActionResult({"SubscriptionArn": arn})

    SNSBackend.subscribe = subscribe  # type: ignore[method-assign]
    SNSResponse.list_subscriptions = list_subscriptions  # type: ignore[method-assign]
    SNSResponse.list_subscriptions_by_topic = list_subscriptions_by_topic  # type: ignore[method-assign]
    SNSResponse.confirm_subscription = confirm_subscription  # type: ignore[method-assign]


def pending_confirmations() -> list[dict[str, str]]:
    """GET /_keyward/sns-confirmations: each pending subscription and the token its mail carries."""
    from moto.sns.models import sns_backends

    found = []
    with _LOCK:
        tokens = dict(_TOKENS)
    for backends in sns_backends.values():
        for backend in backends.values():
            for arn, subscription in list(backend.subscriptions.items()):
                if arn in tokens:
                    found.append(
                        {
                            "subscription_arn": arn,
                            "topic_arn": subscription.topic.arn,
                            "endpoint": subscription.endpoint,
                            "token": tokens[arn],
                        }
                    )
    return found
