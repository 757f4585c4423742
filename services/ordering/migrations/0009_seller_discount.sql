-- The tenant's seller discount, from catalog.settings.v1: a seller's own orders are priced with it.
CREATE TABLE seller_discounts (
    tenant_id          text PRIMARY KEY,
    seller_discount_bp integer NOT NULL CHECK (seller_discount_bp BETWEEN 0 AND 10000),
    version            bigint NOT NULL
);

-- Accounts identity deleted: a contact event of theirs arriving late (another topic) stores nothing.
CREATE TABLE erased_accounts (
    tenant_id  text NOT NULL,
    account_id text NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
