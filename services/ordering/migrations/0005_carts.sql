-- An account's cart, kept between sessions and devices: the codes and quantities it holds, in the
-- order they were first added. Prices are never stored: a cart is priced when it is read, so a
-- product retired or out of the assortment since shows as unavailable, with the reason.
CREATE TABLE cart_lines (
    tenant_id  text NOT NULL,
    account_id text NOT NULL,
    code_key   text NOT NULL,  -- the code in capitals: one line per product whatever the case typed
    code       text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 100000),
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, account_id, code_key)
);
