-- Catalog products: one row per product and tenant, versioned so consumers can order its events.

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9._-]{1,32}$'),  -- as the admin typed it
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active      boolean NOT NULL DEFAULT true,
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),  -- +1 on each update: events carry it
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Partners type codes by hand: one code per tenant whatever its case. Codes are ASCII, so upper()
-- agrees with Python's str.upper(); the index also serves look-ups by code and listing by code.
CREATE UNIQUE INDEX products_code ON products (tenant_id, upper(code));
