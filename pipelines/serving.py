"""Running the project's small HTTP servers (review page, published site, search service) from the CLI."""

from __future__ import annotations


def serve_until_interrupted(server) -> None:
    """Serve until Ctrl-C, then release the port."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
