-- Template baskets: an account's carts saved under a name, to load into the cart again (a pharmacy's
-- weekly order). Lines are codes and quantities, priced only when the cart is read.
CREATE TABLE cart_templates (
    template_id uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    account_id  text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX cart_templates_name ON cart_templates (tenant_id, account_id, lower(name));

CREATE TABLE cart_template_lines (
    template_id uuid NOT NULL REFERENCES cart_templates ON DELETE CASCADE,
    position    integer NOT NULL,
    code        text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 100000),
    PRIMARY KEY (template_id, position)
);
