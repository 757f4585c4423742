-- Paying in instalments: at confirmation the order's total is split into the tenant's number of
-- parts, due every interval from then. The buyer pays the first on the provider's page, where her
-- card is saved; the next ones are charged to that card when due. A failed charge is tried again
-- after a delay; after the last try the instalment is flagged for the admin.
CREATE TABLE instalments (
    order_id        uuid NOT NULL REFERENCES orders,
    number          integer NOT NULL CHECK (number >= 1),
    tenant_id       text NOT NULL,
    account_id      text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    currency        text NOT NULL,
    due_at          timestamptz NOT NULL,
    -- scheduled: waits for its time (or its retry); charging: a charge is at the provider; paid;
    -- flagged: every try failed, the admin must act; cancelled: the order was.
    status          text NOT NULL CHECK (status IN ('scheduled', 'charging', 'paid', 'flagged', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    failure_reason  text,
    payment_id      uuid,  -- the payment that paid it
    PRIMARY KEY (order_id, number)
);
CREATE INDEX instalments_due ON instalments (next_attempt_at) WHERE status = 'scheduled' AND number > 1;
CREATE INDEX instalments_of_tenant ON instalments (tenant_id, status);

-- The card the buyer saved when she paid her first instalment: the next ones are charged to it.
CREATE TABLE instalment_cards (
    order_id uuid PRIMARY KEY REFERENCES orders,
    card_id  text NOT NULL
);
