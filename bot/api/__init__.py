"""The REST API at /api/v1: token auth, scopes, rate limits, problem+json, an OpenAPI 3.1 document."""
