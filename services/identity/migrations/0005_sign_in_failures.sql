-- Failed sign-ins per account and source (the client's address; for IPv6 its /64). Failures from one
-- source lock that source only: a stranger cannot lock the owner out from elsewhere. Failures from all
-- sources together only slow sign-ins on the account down (a short delay, capped). Kept here rather
-- than in a process's memory so that replicas agree.
CREATE TABLE sign_in_failures (
    account_id     uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    source         text NOT NULL,
    failures       integer NOT NULL CHECK (failures > 0),   -- in a row, from this source
    last_failed_at timestamptz NOT NULL,
    locked_at      timestamptz,                             -- NULL: this source is not locked
    PRIMARY KEY (account_id, source)
);

-- Failures are counted per source now; `accounts.locked_at` keeps when a source was last locked (for
-- the admins' view) until an unlock or a new password. Locks taken before sources were told apart
-- applied to every source: they are lifted.
ALTER TABLE accounts DROP COLUMN failed_logins;
UPDATE accounts SET locked_at = NULL WHERE locked_at IS NOT NULL;
