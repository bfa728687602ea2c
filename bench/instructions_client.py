"""Sends a fixed number of GraphQL requests over keep-alive connections.

Used by bench/instructions.sh: the server's instructions are counted over
exactly these requests, so the count, not the time, is what matters. Every
answer must be a 200 without "errors", or the run fails.

    python3 bench/instructions_client.py PORT TOKEN QUERY REQUESTS CONNECTIONS
"""

import http.client
import json
import sys
import threading


def main() -> None:
    port, token, query = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    requests, connections = int(sys.argv[4]), int(sys.argv[5])
    body = json.dumps({"query": query}).encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    failures = []

    def worker(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for _ in range(count):
            conn.request("POST", "/lynkapi", body, headers)
            answer = conn.getresponse()
            text = answer.read()
            if answer.status != 200 or b'"errors"' in text:
                failures.append(f"{answer.status} {text[:300]!r}")
                return
        conn.close()

    share, extra = divmod(requests, connections)
    threads = [
        threading.Thread(target=worker, args=(share + (1 if i < extra else 0),))
        for i in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"instructions_client: {len(failures)} failed, first: {failures[0]}")


if __name__ == "__main__":
    main()
