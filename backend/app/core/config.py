"""Settings: one pydantic-settings class read from the environment once.

`cargo xtask generate` reads the fields and their descriptions to write the Space README's
secrets table, and `cargo xtask deploy` shows the same descriptions and checks a secrets file
against LOG_LEVELS and LOCAL_DB_HOSTS: keep both as tuples of plain strings. Every secret is
optional: unset ones fall back to the embedded defaults documented in docs/backend.md, and
`/api/health` says which.
"""

import os
import sys
from functools import cached_property
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core import secrets

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOCAL_DB_HOSTS = ("", "localhost", "127.0.0.1", "::1")
COLLECTION_FORBIDDEN = ("<", ">", ":", '"', "/", "\\", "|", "?", "*")


def _split_url(value: str) -> SplitResult:
    """The URL's parts; a malformed host or port is a settings error, not a traceback at connect time.

    The parser's own message is not shown: with a `/` in a password it quotes part of the password.
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
        return parts
    except ValueError:
        raise ValueError(
            "is not a valid URL (bad host or port): check them, and percent-encode : / @ in a password"
        ) from None


def mask_database_url(value: str) -> str:
    """DATABASE_URL as it may be shown: the password, in the user part or `password=`, is `***`.

    Works on URLs no parser accepts: the user part ends at the last `@` before the query (a raw
    `@` or `/` in a password is common), and the password is everything after its first `:`.
    """
    scheme, sep, rest = value.partition("://")
    if not sep:
        return "***" if value else value
    before_query, question, query = rest.partition("?")
    userinfo, at, hostpart = before_query.rpartition("@")
    if at and ":" in userinfo:
        before_query = f"{userinfo.split(':', 1)[0]}:{secrets.MASK}@{hostpart}"
    if question:
        query = "&".join(
            f"password={secrets.MASK}" if pair.lower().startswith("password=") else pair
            for pair in query.split("&")
        )
    return f"{scheme}://{before_query}{question}{query}"


def database_parameters(value: str) -> dict[str, str]:
    """DATABASE_URL as libpq connection parameters (host, port, user, password, dbname, query options).

    Parsed here, once, so the driver never sees the URL: libpq quotes a password it cannot parse
    in its error messages. Percent-escapes are decoded as in any URL; an invalid one (`%zz`) is
    kept as written. A ValueError names the problem with the URL masked.
    """
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(
            f"is not a valid URL (bad host or port): {mask_database_url(value)}: check them, "
            "and percent-encode : / @ in a password (%3A %2F %40)"
        ) from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("must start with postgresql://")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host = (
        hostport[1:].partition("]")[0]
        if hostport.startswith("[")
        else hostport.rpartition(":")[0]
        if port
        else hostport
    )
    params = {
        "host": host,
        "port": str(port or ""),
        "user": user,
        "password": password,
        "dbname": parts.path[1:],
    }
    for pair in filter(None, parts.query.split("&")):
        name, _, option = pair.partition("=")
        params[unquote(name)] = option
    decoded = {name: unquote(option) for name, option in params.items() if option}
    for name, option in decoded.items():
        if "\x00" in option:
            raise ValueError(
                f"has a {name} that decodes to a NUL byte (%00), which PostgreSQL cannot take: "
                f"{mask_database_url(value)}: write a `%` that is part of it as %25"
            )
    return decoded


class Settings(BaseSettings):
    gemini_api_key: str = Field(
        "",
        description="Google Gemini API key (empty: local embedder and offline answers quoted from the docs)",
    )
    qdrant_url: str = Field(
        "",
        description="Qdrant Cloud cluster URL, https://..., no trailing space (empty: embedded Qdrant under DATA_DIR)",
    )
    qdrant_api_key: str = Field("", description="Qdrant Cloud API key")
    qdrant_collection: str = Field(
        "docs", description="Qdrant collection holding the knowledge chunks"
    )
    database_url: str = Field(
        "",
        description="PostgreSQL connection string with `?sslmode=require` (empty: SQLite file under DATA_DIR)",
    )
    allowed_origins: str = Field(
        "http://localhost:5173,http://localhost:3000",
        description="Frontend URLs allowed by CORS (comma-separated)",
    )
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    data_dir: str = Field(
        ".data",
        description="Writable folder for the embedded defaults (local Qdrant, SQLite history) and the turns PostgreSQL could not take yet",
    )
    knowledge_paths: str = Field(
        "",
        description="Markdown files or folders (comma-separated) ingested at startup; unchanged ones are skipped",
    )
    gemini_base_url: str = Field(
        "", description="Gemini API endpoint override (a proxy or a test server); empty: Google's"
    )
    gemini_model: str = Field(
        "gemini-2.5-flash", description="Gemini model that writes the answers"
    )
    gemini_embedding_model: str = Field(
        "gemini-embedding-001", description="Gemini model that embeds chunks and questions"
    )

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def no_surrounding_whitespace(cls, value: object) -> object:
        if isinstance(value, str) and value != value.strip():
            raise ValueError("has leading or trailing whitespace: remove it from the value")
        return value

    @field_validator("qdrant_url", "gemini_base_url")
    @classmethod
    def http_url(cls, value: str) -> str:
        if not value:
            return value
        parts = _split_url(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http(s) URL with a host, such as https://xyz.cloud.qdrant.io"
            )
        return value.rstrip("/")

    @field_validator("qdrant_collection")
    @classmethod
    def collection_name(cls, value: str) -> str:
        # Qdrant refuses these only when the collection is first created, long after startup.
        if not value or any(c in value for c in COLLECTION_FORBIDDEN) or value in (".", ".."):
            raise ValueError(
                f"must be a non-empty name without {' '.join(COLLECTION_FORBIDDEN)}, such as docs"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def postgres_url(cls, value: str) -> str:
        if not value:
            return value
        params = database_parameters(value)
        socket_dir = params.get("host", "").startswith("/")
        remote = not socket_dir and params.get("host", "") not in LOCAL_DB_HOSTS
        if remote and params.get("sslmode") not in ("require", "verify-full"):
            raise ValueError(
                "points at a remote host without `sslmode=require`: append `?sslmode=require` (Neon needs it)"
            )
        return value

    @field_validator("allowed_origins")
    @classmethod
    def origin_list(cls, value: str) -> str:
        # A browser sends `Origin: https://host[:port]`; an entry without a scheme, or with a path,
        # never matches it, and the page fails with a CORS error that does not say why.
        # Origins are public (every CORS answer repeats them), so the entry may be quoted.
        for origin in (o.strip().rstrip("/") for o in value.split(",")):
            if not origin or origin == "*":
                continue
            parts = _split_url(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                or parts.query
            ):
                raise ValueError(
                    f"entry {origin[:60]!r} is not an origin: write scheme and host only, such as https://my-app.vercel.app"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @model_validator(mode="after")
    def qdrant_key_needs_url(self) -> "Settings":
        if self.qdrant_api_key and not self.qdrant_url:
            raise ValueError(
                "QDRANT_API_KEY is set but QDRANT_URL is not: set QDRANT_URL to your cluster URL"
            )
        return self

    @model_validator(mode="after")
    def writable_data_dir(self) -> "Settings":
        # Always used: embedded Qdrant, the SQLite history, or the spool of turns PostgreSQL missed.
        existing = os.path.abspath(self.data_dir)
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
            raise ValueError(
                f"DATA_DIR {self.data_dir!r} cannot be created or written ({existing} is not a writable folder): "
                "point DATA_DIR at a writable folder"
            )
        return self

    @model_validator(mode="after")
    def register_secrets(self) -> "Settings":
        """From here on, no response or log line of this process shows these values."""
        written = urlsplit(self.database_url).netloc.rpartition("@")[0].partition(":")[2]
        decoded = self.database.get("password", "")
        secrets.register(
            self.gemini_api_key, self.qdrant_api_key, self.database_url, written, decoded
        )
        return self

    @cached_property
    def database(self) -> dict[str, str]:
        """DATABASE_URL as connection parameters for the driver (empty when unset)."""
        return database_parameters(self.database_url) if self.database_url else {}

    @cached_property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    @cached_property
    def knowledge(self) -> list[str]:
        return [p.strip() for p in self.knowledge_paths.split(",") if p.strip()]


def describe_errors(err: ValidationError) -> str:
    """One line per bad variable, naming it and the fix, and never echoing a secret value."""
    lines = []
    for error in err.errors():
        name = "_".join(str(p) for p in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        lines.append(
            f"configuration error: {name} {message}" if name else f"configuration error: {message}"
        )
    return "\n".join(lines)


def load_settings() -> Settings:
    """The settings from the environment; a bad value stops the process with a clear line."""
    try:
        return Settings()
    except ValidationError as err:
        sys.exit(describe_errors(err))
