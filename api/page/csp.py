"""The page's Content-Security-Policy: its own scripts and styles, its own API, the storage."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as a CSP source expression."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def content_security_policy(storage_origin: str) -> str:
    """No inline script or style, no plugin, no framing; only 'self' and the storage origin.

    Downloads go to presigned URLs on the storage endpoint (the origin of a URL presigned just
    now, so it is exactly the host the page is sent to); nothing else is ever reached.
    """
    return _policy(connect_sources=f"'self' {storage_origin}", image_sources="'self'")


def docs_content_security_policy() -> str:
    """The same for the Swagger UI page, which asks only this API.

    Swagger UI's stylesheet draws its icons as data: SVG images; it sets styles only through
    the DOM, which style-src does not govern, so no 'unsafe-inline' is needed.
    """
    return _policy(connect_sources="'self'", image_sources="'self' data:")


def _policy(connect_sources: str, image_sources: str) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": image_sources,
        "connect-src": connect_sources,
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())
