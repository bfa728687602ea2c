"""Sends a fixed number of GraphQL requests over keep-alive connections.

Used by bench/instructions.sh: the server's instructions are counted over
exactly these requests, so the count, not the time, is what matters. Every
answer must be a 200 without "errors", or the run fails.

    python3 bench/instructions_client.py PORT TOKEN QUERY REQUESTS CONNECTIONS

TOKEN may be @FILE, a file of tokens one a line: connection i sends tokens
i, i + CONNECTIONS, i + 2 × CONNECTIONS … (from the start again after
the last), so REQUESTS equal to the number of tokens sends each once.
"""

import http.client
import json
import sys
import threading


def main() -> None:
    port, token, query = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    requests, connections = int(sys.argv[4]), int(sys.argv[5])
    body = json.dumps({"query": query}).encode()
    if token.startswith("@"):
        with open(token[1:]) as f:
            tokens = [line.strip() for line in f if line.strip()]
    else:
        tokens = [token]
    failures = []

    def worker(index: int, count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for n in range(count):
            headers = {
                "Authorization": f"Bearer {tokens[(index + n * connections) % len(tokens)]}",
                "Content-Type": "application/json",
            }
            conn.request("POST", "/lynkapi", body, headers)
            answer = conn.getresponse()
            text = answer.read()
            if answer.status != 200 or b'"errors"' in text:
                failures.append(f"{answer.status} {text[:300]!r}")
                return
        conn.close()

    share, extra = divmod(requests, connections)
    threads = [
        threading.Thread(target=worker, args=(i, share + (1 if i < extra else 0)))
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
