-- The tenant's catalog settings: the discount a seller (a consultant) gets on everything she orders
-- for herself, in basis points (2000 = 20 %). Published on catalog.settings.v1 for ordering to charge
-- the price the catalog shows.
CREATE TABLE catalog_settings (
    tenant_id          text PRIMARY KEY,
    seller_discount_bp integer NOT NULL CHECK (seller_discount_bp BETWEEN 0 AND 10000),
    version            bigint NOT NULL,
    changed_at         timestamptz NOT NULL
);
