-- Access-token signing keys (EdDSA or ES256): the public half as a JWK, the private half
-- sealed (AES-256-GCM under SIGNING_KEY_ENCRYPTION_KEY). A key is published from its
-- creation (`next`), signs while `current`, still verifies while `previous`, and is
-- unpublished once `retired` or `revoked`. `kid` is the key's RFC 7638 thumbprint.
CREATE TABLE signing_keys (
    kid            TEXT      NOT NULL PRIMARY KEY,
    algorithm      TEXT      NOT NULL,
    state          TEXT      NOT NULL,
    public_jwk     TEXT      NOT NULL,
    private_sealed TEXT      NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    activated_at   TIMESTAMP NULL,
    deactivated_at TIMESTAMP NULL,
    retired_at     TIMESTAMP NULL
);
