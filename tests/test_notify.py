import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from gramops.notify import post_json


def test_posts_json_to_a_receiver_on_loopback():
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    assert post_json(url, {"event": "promote", "sha": "ab"}) == 204
    thread.join(5)
    server.server_close()
    assert received == [("application/json", {"event": "promote", "sha": "ab"})]


def test_unreachable_receiver_is_logged_not_raised(caplog):
    assert post_json("http://127.0.0.1:9/hook", {"x": 1}, timeout=1) == 0
    assert "notification to http://127.0.0.1:9/hook failed" in caplog.text
