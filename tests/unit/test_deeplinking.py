"""Deep Linking 2.0 as the tool answers it (lti/deeplinking.py), checked by the strict
emulator's own rules (devlms/deeplinking.py)."""

import jwt

from coursehub.core.launch import DEEP_LINKING_CLAIM, launch_from_lti13
from coursehub.devlms.deeplinking import DL, item_problems
from coursehub.devlms.launcher import LaunchSpec, lti13_message_claims
from coursehub.lti.deeplinking import content_item, response_claims, signed_response
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


def request():
    claims = lti13_message_claims(LaunchSpec(user="prof", role="instructor", course="C1"), "https://hub/hub/", "d-9")
    claims.update({"iss": "https://lms", "aud": "client-1", CLAIM + "message_type": "LtiDeepLinkingRequest",
                   DEEP_LINKING_CLAIM: {"deep_link_return_url": "https://lms/return", "data": "opaque-1"}})
    return launch_from_lti13(claims, "sub")


def test_the_answer_names_the_client_the_platform_the_deployment_and_echoes_data():
    launch = request()
    assert launch.is_deep_linking and launch.client_id == "client-1"
    item = content_item("Problem set 1", {"assignment": "ps1"}, "c1", "ps1", 3)
    claims = response_claims(launch, [item], now=1000)
    assert (claims["iss"], claims["aud"], claims[CLAIM + "deployment_id"]) == ("client-1", "https://lms", "d-9")
    assert claims[CLAIM + "message_type"] == "LtiDeepLinkingResponse" and claims[CLAIM + "version"] == "1.3.0"
    assert claims[DL + "data"] == "opaque-1" and claims["nonce"] and claims["exp"] == 1300
    assert item_problems(claims[DL + "content_items"]) == []
    assert item["lineItem"] == {"scoreMaximum": 3, "label": "Problem set 1", "resourceId": "coursehub:c1:ps1"}


def test_no_points_no_line_item_and_the_signature_carries_the_kid():
    assert "lineItem" not in content_item("Notebooks", {}, "c1", "", 0)
    key = SigningKey.from_pem(generate_private_key_pem())
    token = signed_response(key, request(), [content_item("x", {}, "c1", "", 0)])
    assert jwt.get_unverified_header(token)["kid"] == key.kid


def test_the_emulator_refuses_what_the_spec_does_not_allow():
    assert item_problems([]) and item_problems([{"type": "link", "title": "x"}])
    assert any("scoreMaximum" in p for p in item_problems([{"type": "ltiResourceLink", "title": "x",
                                                            "lineItem": {"scoreMaximum": 0}}]))
    assert any("strings" in p for p in item_problems([{"type": "ltiResourceLink", "title": "x", "custom": {"a": 1}}]))
