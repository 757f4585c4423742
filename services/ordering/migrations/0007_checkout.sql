-- Checkout in two steps and the order's life: the tenant's checkout settings, its closed days and
-- pick-up points, address books, quotes, and what a confirmed order records.

-- The tenant's time zone, from identity.tenant.v1: delivery dates are days there.
CREATE TABLE tenant_zones (
    tenant_id  text PRIMARY KEY,
    time_zone  text NOT NULL,
    changed_at timestamptz NOT NULL
);

-- The tenant's organisations, from identity.organisation.v1: an admin files addresses for them.
CREATE TABLE organisations (
    tenant_id       text NOT NULL,
    organisation_id text NOT NULL,
    PRIMARY KEY (tenant_id, organisation_id)
);

-- One row per tenant that changed a default (services/ordering/checkout.py: CheckoutSettings).
CREATE TABLE checkout_settings (
    tenant_id text PRIMARY KEY,
    settings  jsonb NOT NULL,
    changed_at timestamptz NOT NULL
);

-- Days no delivery is made, besides weekends (a bank holiday, the warehouse's closing).
CREATE TABLE closed_days (
    tenant_id text NOT NULL,
    day       date NOT NULL,
    label     text NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

CREATE TABLE pickup_points (
    tenant_id       text NOT NULL,
    pickup_point_id uuid NOT NULL,
    name            text NOT NULL,
    address         jsonb NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, pickup_point_id)
);

-- An organisation's delivery addresses, or those of an account that belongs to none (a consultant).
CREATE TABLE addresses (
    tenant_id   text NOT NULL,
    address_id  uuid NOT NULL,
    owner_kind  text NOT NULL CHECK (owner_kind IN ('organisation', 'account')),
    owner_id    text NOT NULL,
    address     jsonb NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, address_id)
);
CREATE INDEX addresses_by_owner ON addresses (tenant_id, owner_kind, owner_id);
CREATE UNIQUE INDEX addresses_one_default ON addresses (tenant_id, owner_kind, owner_id) WHERE is_default;

-- "Keep this address": a buyer's request that an admin add an order's address to the book.
CREATE TABLE address_requests (
    tenant_id       text NOT NULL,
    request_id      uuid NOT NULL,
    order_id        uuid NOT NULL,
    account_id      text NOT NULL,
    organisation_id text,
    address         jsonb NOT NULL,
    requested_at    timestamptz NOT NULL,
    decision        text CHECK (decision IN ('accepted', 'declined')),  -- null: waits for the admin
    PRIMARY KEY (tenant_id, request_id)
);

-- A quote: the cart priced with the buyer's choices, valid until `expires_at`. Confirming it prices
-- the cart again and compares: a change of price answers with a new quote instead of an order.
CREATE TABLE quotes (
    quote_id   uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    account_id text NOT NULL,
    quote      jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    order_id   uuid              -- the order it became, once confirmed
);
CREATE INDEX quotes_by_expiry ON quotes (expires_at);

-- What an order records of its checkout; orders submitted before checkout existed have the defaults.
ALTER TABLE orders
    ADD COLUMN version          integer NOT NULL DEFAULT 1,
    ADD COLUMN reference        text,       -- the customer's own reference for the order
    ADD COLUMN erp_order_number  text,      -- the brand's ERP's number for it, once it said
    ADD COLUMN invoice_reference text,
    ADD COLUMN checkout         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at       timestamptz;
UPDATE orders SET status = 'confirmed' WHERE status = 'submitted';
UPDATE orders SET updated_at = submitted_at;
ALTER TABLE orders ALTER COLUMN updated_at SET NOT NULL;

ALTER TABLE order_lines
    ADD COLUMN vat_rate_bp    integer NOT NULL DEFAULT 0,
    ADD COLUMN instead_of_fee boolean NOT NULL DEFAULT false;

-- Every step of an order's life, oldest first: the order page's history.
CREATE INDEX orders_by_reference ON orders (tenant_id, lower(reference)) WHERE reference IS NOT NULL;

CREATE TABLE order_history (
    order_id   uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    seq        integer NOT NULL,
    status     text NOT NULL,
    action     text NOT NULL,
    by_account text,
    reason     text,
    at         timestamptz NOT NULL,
    PRIMARY KEY (order_id, seq)
);
