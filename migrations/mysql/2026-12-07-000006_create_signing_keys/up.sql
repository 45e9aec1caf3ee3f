-- Access-token signing keys (EdDSA or ES256): the public half as a JWK, the private half
-- sealed (AES-256-GCM under SIGNING_KEY_ENCRYPTION_KEY). A key is published from its
-- creation (`next`), signs while `current`, still verifies while `previous`, and is
-- unpublished once `retired` or `revoked`. `kid` is the key's RFC 7638 thumbprint.
CREATE TABLE signing_keys (
    kid            VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    algorithm      VARCHAR(16) NOT NULL,
    state          VARCHAR(16) NOT NULL,
    public_jwk     TEXT        NOT NULL,
    private_sealed TEXT        NOT NULL,
    created_at     DATETIME(6) NOT NULL,
    activated_at   DATETIME(6) NULL,
    deactivated_at DATETIME(6) NULL,
    retired_at     DATETIME(6) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
