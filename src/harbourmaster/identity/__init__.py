"""The identity adapter: talking to an OpenID provider over HTTP (discovery, token, JWKS)."""
