"""The compliance console: the web pages at ``/console`` (docs/console.md).

Server-rendered HTML over the same services as the API, behind a session cookie from an
OpenID Connect sign-in. Each area is a module of thin handlers; what a page shows is a read of
the domain the API exposes, under the same permission table.
"""
