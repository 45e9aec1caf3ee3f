"""An independent verifier of strata's access tokens, as a resource server in another
language would write it: PyJWT, knowing only the JWK set's URL, the issuer and the audience.

usage: verify_jwt.py JWKS_URL ISSUER AUDIENCE TOKEN
Prints the claims as JSON and exits 0, or prints why the token was refused and exits 1.
"""
import json
import sys

import jwt

jwks_url, issuer, audience, token = sys.argv[1:5]
try:
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise jwt.InvalidTokenError(f"typ is {header.get('typ')!r}, not at+jwt")
    key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    # The algorithm is pinned to the key's own, never taken from the token.
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[key._jwk_data.get("alg", "EdDSA")],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
except Exception as e:  # every refusal is an answer, not a crash
    print(f"refused: {type(e).__name__}: {e}")
    sys.exit(1)
print(json.dumps(claims))
