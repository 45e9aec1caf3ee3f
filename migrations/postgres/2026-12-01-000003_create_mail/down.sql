DROP TABLE mail_outbox;
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN email_verified;
