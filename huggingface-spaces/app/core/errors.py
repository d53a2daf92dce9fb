"""The one error the services raise when a dependency cannot answer."""


class ServiceUnavailable(Exception):
    """`service` (qdrant, postgres, gemini) is down or misconfigured; `reason` says why and what to do.

    The API turns it into a 503 naming the service, never a traceback.
    """

    def __init__(self, service: str, reason: str):
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason
