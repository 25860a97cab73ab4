from gramops.release.notify import post_json


def test_posts_json_to_a_receiver_on_loopback(webhook):
    url, received, content_types = webhook
    assert post_json(url, {"event": "promote", "sha": "ab"}) == 204
    assert content_types == ["application/json"]
    assert received == [{"event": "promote", "sha": "ab"}]


def test_unreachable_receiver_is_logged_not_raised(caplog):
    assert post_json("http://127.0.0.1:9/hook", {"x": 1}, timeout=1) == 0
    assert "notification to http://127.0.0.1:9/hook failed" in caplog.text
