-- A signed-in browser's session. The browser holds only an opaque cookie; the tokens identity gave
-- stay here, and the key is the SHA-256 of the cookie's value: a leaked table opens no session.
-- Nothing personal is kept (the pages ask the API for names), so that an erased account leaves no
-- trace here: its row goes at its next refresh, refused, or when its session would have ended.
CREATE TABLE sessions (
    session_key bytea PRIMARY KEY,
    tenant_id text NOT NULL,
    account_id uuid NOT NULL,
    locale text NOT NULL,
    access_token text NOT NULL,
    access_expires_at timestamptz NOT NULL,
    refresh_token text NOT NULL,
    refresh_expires_at timestamptz NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Ended sessions are swept by their end; "sign out of all devices" finds an account's sessions.
CREATE INDEX sessions_refresh_expires_at ON sessions (refresh_expires_at);
CREATE INDEX sessions_account ON sessions (tenant_id, account_id);
