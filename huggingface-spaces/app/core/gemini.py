"""The google-genai client shared by the embedder and the answer writer, and its error mapping.

google-genai is imported only when a client is made: it takes about a second to import, and the
embedded defaults (no GEMINI_API_KEY) must start within three.
"""

from typing import TYPE_CHECKING

from app.core.config import Settings
from app.core.errors import ServiceUnavailable

# Long enough for a full answer, short enough that a hung API turns into a 503 the user sees.
REQUEST_TIMEOUT_MS = 60_000


if TYPE_CHECKING:
    from google import genai


def make_client(settings: Settings) -> "genai.Client":
    from google import genai
    from google.genai import types

    # The API version is pinned so a base_url override (proxy, test server) gets the same paths.
    options = types.HttpOptions(timeout=REQUEST_TIMEOUT_MS, api_version="v1beta")
    if settings.gemini_base_url:
        options.base_url = settings.gemini_base_url
    return genai.Client(api_key=settings.gemini_api_key, http_options=options)


def unavailable(err: Exception) -> ServiceUnavailable:
    """A Gemini failure as a 503 reason a user can act on (the key never appears in it)."""
    from google.genai import errors

    if isinstance(err, errors.APIError):
        if err.code in (401, 403):
            reason = f"the API key was rejected ({err.code}): check GEMINI_API_KEY"
        elif err.code == 429:
            reason = "quota or rate limit exceeded (429): wait a minute or raise the quota"
        elif err.code == 404:
            reason = f"model not found (404): check GEMINI_MODEL / GEMINI_EMBEDDING_MODEL ({err.message})"
        else:
            reason = f"the API answered {err.code}: {err.message}"
    # google-genai raises its own copy of httpx's exceptions (module `httpx2`): match them by name.
    elif "TimeoutException" in _class_names(err) or isinstance(err, TimeoutError):
        reason = "the API did not answer in time"
    elif "TransportError" in _class_names(err):
        reason = f"cannot reach the API (check GEMINI_BASE_URL if set): {type(err).__name__}: {err}"
    else:
        reason = f"{type(err).__name__}: {err}"
    return ServiceUnavailable("gemini", reason)


def _class_names(err: Exception) -> set[str]:
    return {cls.__name__ for cls in type(err).__mro__}
