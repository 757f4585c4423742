-- The approval workflow: who validates an organisation's orders (identity's memberships, as ordering
-- keeps them) and from which amount its orders wait for them.

-- Each account's organisation and roles, from identity.account.v1 (registered, membership_changed).
CREATE TABLE memberships (
    tenant_id       text NOT NULL,
    account_id      text NOT NULL,
    organisation_id text,
    roles           text[] NOT NULL,
    changed_at      timestamptz NOT NULL,   -- of the event that set them: an older one changes nothing
    PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX memberships_by_organisation ON memberships (tenant_id, organisation_id)
    WHERE organisation_id IS NOT NULL;

-- An organisation's policy: its orders whose goods (excluding VAT) exceed the threshold wait for a
-- validator (0: every order waits). An organisation without a policy needs no approval.
CREATE TABLE approval_policies (
    tenant_id       text NOT NULL,
    organisation_id text NOT NULL,
    threshold_minor bigint NOT NULL CHECK (threshold_minor >= 0),
    changed_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, organisation_id)
);

-- The "to validate" list: an organisation's orders awaiting approval, newest first.
CREATE INDEX orders_awaiting_approval ON orders (tenant_id, organisation_id, submitted_at DESC)
    WHERE status = 'awaiting_approval';
