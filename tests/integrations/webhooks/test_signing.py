"""Signatures checked by the reference implementation (the ``standardwebhooks`` library)."""

import base64
import time

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from app.integrations.webhooks import signing

message_ids = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1,
                      max_size=40).map(lambda s: "msg_" + s)  # fmt: skip


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=20,
)  # fmt: skip


@given(value=json_values, message_id=message_ids)
def test_every_signature_verifies_with_the_reference_library(value: object, message_id: str):
    body = orjson.dumps(value)
    secret = signing.new_secret()
    headers = signing.headers([secret], message_id=message_id, timestamp=int(time.time()),
                              body=body)  # fmt: skip
    Webhook(secret).verify(body, headers)


@given(text=st.text(st.characters(codec="ascii"), min_size=1, max_size=200),
       flip=st.integers(min_value=0))  # fmt: skip
def test_a_changed_body_does_not_verify(text: str, flip: int):
    body = text.encode()
    secret = signing.new_secret()
    headers = signing.headers([secret], message_id="msg_1", timestamp=int(time.time()),
                              body=body)  # fmt: skip
    changed = bytearray(body)
    changed[flip % len(body)] ^= 0x01
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(bytes(changed), headers)


def test_during_an_overlap_either_secret_verifies_and_no_other():
    old, new, other = signing.new_secret(), signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], message_id="msg_2", timestamp=int(time.time()),
                              body=b"{}")  # fmt: skip
    Webhook(old).verify(b"{}", headers)
    Webhook(new).verify(b"{}", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(b"{}", headers)


def test_a_secret_is_32_random_bytes_after_its_prefix():
    secrets = {signing.new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert {len(base64.b64decode(s.removeprefix("whsec_"))) for s in secrets} == {32}
