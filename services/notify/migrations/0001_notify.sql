-- Notify keeps the only copies of personal contact data it needs, and the messages it sends.

-- Read model of identity.contact.changed: how to reach each account.
CREATE TABLE contacts (
    tenant_id    text NOT NULL,
    account_id   text NOT NULL,
    email        text NOT NULL,
    display_name text NOT NULL,
    locale       text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id)
);

-- One row per message, created by the consumers, sent by the dispatcher.
-- A message whose account has no known contact yet waits ('waiting_contact') with its `facts`
-- (what it will say), and is rendered when the contact arrives; `facts` is cleared once rendered.
CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    account_id      text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('activation', 'order_copy', 'points_earned')),
    channel         text NOT NULL DEFAULT 'email' CHECK (channel IN ('email')),
    recipient       text,
    subject         text,
    body            text,
    facts           jsonb,
    status          text NOT NULL CHECK (status IN ('waiting_contact', 'queued', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    error           text,
    source_event_id uuid NOT NULL UNIQUE,   -- one message per event, whatever the redeliveries
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- back-off after the server refused it
    sent_at         timestamptz,
    CHECK (status = 'waiting_contact' OR (recipient IS NOT NULL AND subject IS NOT NULL AND body IS NOT NULL))
);
CREATE INDEX messages_by_tenant ON messages (tenant_id, created_at DESC);
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'queued';
CREATE INDEX messages_waiting ON messages (tenant_id, account_id) WHERE status = 'waiting_contact';
