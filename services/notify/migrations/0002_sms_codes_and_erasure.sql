-- SMS beside email, identity's code requests (activation code, recovery), and erasure of the data
-- of deleted accounts.

-- The mobile number identity.contact.changed may now carry (E.164).
ALTER TABLE contacts ADD COLUMN phone text;

-- `recipient` is an email address or a phone number, as `channel` says.
ALTER TABLE messages DROP CONSTRAINT messages_channel_check;
ALTER TABLE messages ADD CONSTRAINT messages_channel_check CHECK (channel IN ('email', 'sms'));

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
    CHECK (kind IN ('activation', 'activation_code', 'recovery', 'order_copy', 'points_earned'));

-- 'cancelled': its account was deleted before it could be sent; it never will be.
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('waiting_contact', 'queued', 'sent', 'failed', 'cancelled'));

-- When set, the account was deleted and everything personal in the message went (recipient,
-- subject, body, facts, error); what stays (id, kind, channel, status, attempts, times) only counts.
ALTER TABLE messages ADD COLUMN erased_at timestamptz;

-- An SMS has no subject; an erased message has no content at all.
ALTER TABLE messages DROP CONSTRAINT messages_check;
ALTER TABLE messages ADD CONSTRAINT messages_content_check CHECK (
    status IN ('waiting_contact', 'cancelled')
    OR erased_at IS NOT NULL
    OR (recipient IS NOT NULL AND body IS NOT NULL AND (channel = 'sms' OR subject IS NOT NULL))
);
ALTER TABLE messages ADD CONSTRAINT messages_erased_check CHECK (
    erased_at IS NULL
    OR (recipient IS NULL AND subject IS NULL AND body IS NULL AND facts IS NULL AND error IS NULL)
);

CREATE INDEX messages_by_account ON messages (tenant_id, account_id);

-- Accounts identity deleted (ids only). Topics are not ordered with one another: a contact or a
-- request published before the deletion may arrive after it, and must not bring the data back.
CREATE TABLE erased_accounts (
    tenant_id  text NOT NULL,
    account_id text NOT NULL,
    erased_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id)
);
