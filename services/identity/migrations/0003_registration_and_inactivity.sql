-- Identity, issue 5 (accounts): resend limits, registration numbers of accounts created before them,
-- and the indexes of the inactivity sweep.

-- When an activation link or code was last sent: a resend sooner than the resend interval (a setting)
-- sends nothing, so that the public resend route cannot flood a mailbox or a phone.
ALTER TABLE accounts ADD COLUMN activation_sent_at timestamptz;

-- Accounts created before registration numbers existed get theirs, in order of creation per tenant,
-- and each tenant's counter continues after them.
WITH numbered AS (
    SELECT account_id, row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, account_id) AS n
    FROM accounts
    WHERE registration_number IS NULL
)
UPDATE accounts a SET registration_number = lpad(numbered.n::text, 8, '0')
FROM numbered WHERE a.account_id = numbered.account_id;

INSERT INTO registration_counters (tenant_id, last_value)
SELECT tenant_id, count(*) FROM accounts GROUP BY tenant_id
ON CONFLICT (tenant_id) DO NOTHING;

-- The sweep looks for accounts that never ordered, by age, and for those whose last order is old.
CREATE INDEX accounts_never_ordered ON accounts (tenant_id, created_at) WHERE last_order_at IS NULL;
CREATE INDEX accounts_last_order ON accounts (tenant_id, last_order_at) WHERE last_order_at IS NOT NULL;
