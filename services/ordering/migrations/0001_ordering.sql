-- Ordering's read model of catalog's products, and the orders submitted against it.

-- Products as catalog's events last described them: the only source of prices for orders.
CREATE TABLE products (
    tenant_id   text NOT NULL,
    product_id  uuid NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    price_minor bigint NOT NULL,
    currency    text NOT NULL,
    active      boolean NOT NULL,
    version     bigint NOT NULL,               -- catalog's version of the product: only newer ones apply
    changed_at  timestamptz NOT NULL,          -- time of the catalog event that carried `version`
    -- Events of different products are not ordered among themselves: when a code moves from one
    -- product to another, the two events may arrive in either order. The product whose event is the
    -- more recent holds the code; the other keeps its last known code, unheld, until its next event.
    code_held   boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, product_id)
);
CREATE UNIQUE INDEX products_code ON products (tenant_id, upper(code)) WHERE code_held;

CREATE TABLE orders (
    order_id        uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    account_id      text NOT NULL,
    organisation_id text,
    status          text NOT NULL,
    total_minor     bigint NOT NULL CHECK (total_minor >= 0),
    currency        text NOT NULL,
    submitted_at    timestamptz NOT NULL
);
CREATE INDEX orders_by_account ON orders (tenant_id, account_id, submitted_at DESC);
CREATE INDEX orders_by_tenant ON orders (tenant_id, submitted_at DESC);

-- Lines copy the product's code, name and price at submission: later catalog changes do not reprice.
CREATE TABLE order_lines (
    order_id         uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    line_no          integer NOT NULL,
    product_id       uuid NOT NULL,
    code             text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor bigint NOT NULL CHECK (line_total_minor >= 0),
    PRIMARY KEY (order_id, line_no)
);
